#!/usr/bin/env bash
# npm run services:down — stops the services that up.sh started, by their pid files.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
svc="$(cd "$here/../.." && pwd)/.services"
. "$here/common.sh"

stop() {
  local name="$1" pidfile="$2" pid
  if ! running "$pidfile"; then log "$name not running"; return; fi
  pid="$(cat "$pidfile")"
  kill "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; log "$name (pid $pid) killed after 30 s"; else log "stopped $name (pid $pid)"; fi
  rm -f "$pidfile"
}

stop cassandra "$svc/cassandra/cassandra.pid"
stop redis "$svc/redis/redis.pid"
stop nats "$svc/nats/nats.pid"
