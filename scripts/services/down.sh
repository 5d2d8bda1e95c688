#!/usr/bin/env bash
# npm run services:down — stops the services that services:up started, by their pid files.
# Their data stays in .services/ (remove the folder for a clean start).
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
# With --ha: stops the clustered topology of `services:up -- --ha` instead (ha.sh).
if [ "${1:-}" = --ha ]; then
  . "$here/ha.sh"
  ha_down
  exit 0
fi
if [ "${1:-}" = --secure ]; then
  . "$here/secure.sh"
  secure_down
  exit 0
fi
[ $# -eq 0 ] || die "unknown argument $1 (--ha or --secure)"

wanted cassandra && stop_service cassandra "$svc/cassandra/cassandra.pid" "$CASSANDRA_PATTERN"
wanted redis && stop_service redis "$svc/redis/redis.pid" "$REDIS_PATTERN"
wanted nats && stop_service nats "$svc/nats/nats.pid" "$NATS_PATTERN"
exit 0
