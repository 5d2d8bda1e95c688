# Shared by up.sh and down.sh: settings (see the list at the top of up.sh) and small helpers.

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
svc="${CHAT_SVC_DIR:-$root/.services}"

NATS_PORT="${CHAT_SVC_NATS_PORT:-14222}"
NATS_MONITOR_PORT="${CHAT_SVC_NATS_MONITOR_PORT:-18222}"
REDIS_PORT="${CHAT_SVC_REDIS_PORT:-16379}"
CQL_PORT="${CHAT_SVC_CQL_PORT:-19042}"
STORAGE_PORT="${CHAT_SVC_CASSANDRA_STORAGE_PORT:-17000}"
JMX_PORT="${CHAT_SVC_CASSANDRA_JMX_PORT:-17199}"
# The client ports of `services:up -- --secure` (secure.sh), which k8s:up's relay also passes on.
SEC_NATS_PORT=34222
SEC_REDIS_PORT=16380
SEC_CASSANDRA_HOST=127.0.0.4
SEC_CQL_PORT=39042
ONLY="${CHAT_SVC_ONLY:-nats redis cassandra}"
TIMEOUT_S="${CHAT_SVC_TIMEOUT_S:-180}"

# Debian installs nats-server into /usr/sbin, which a non-root PATH often lacks.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { echo "[services] $*"; }
die() {
  echo "[services] error: $*" >&2
  exit 1
}

# wanted NAME: true if NAME is among the services to handle (CHAT_SVC_ONLY).
wanted() { [[ " $ONLY " == *" $1 "* ]]; }

# alive PID: true if PID is a running process. A zombie (exited, not yet reaped by an init that may
# never reap it) counts as gone.
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/^.*) //' "/proc/$1/stat" | cut -c1)" != Z ]; }

# ours PIDFILE PATTERN: true if the pid file names a live process whose command line contains PATTERN,
# so a stale pid file whose pid the kernel has given to another program is never taken for ours.
ours() {
  local pid
  [ -f "$1" ] || return 1
  pid="$(cat "$1" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -- "$2" >/dev/null
}

# listening PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# listening_on HOST PORT: the same on another loopback address.
listening_on() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# spawn PIDFILE LOGFILE COMMAND...: starts COMMAND in the background in its own session (a Ctrl-C
# in the terminal or the end of the npm script does not reach it), stdin from /dev/null (CI has no
# stdin), output to LOGFILE (the previous log is kept as LOGFILE.prev), and records its pid.
spawn() {
  local pidfile="$1" logfile="$2"
  shift 2
  [ -f "$logfile" ] && mv -f "$logfile" "$logfile.prev"
  setsid "$@" </dev/null >"$logfile" 2>&1 &
  echo $! >"$pidfile"
}

# wait_ready NAME PIDFILE PATTERN LOGFILE PROBE...: polls PROBE until it succeeds. Fails at once with
# the log's tail when the process exits, and after $TIMEOUT_S seconds when it never gets ready.
# The process was spawned just now, so it is ours by its pid alone: its command line may not match
# PATTERN yet (between the fork and setsid's exec it is still this shell's), and once ready it does.
wait_ready() {
  local name="$1" pidfile="$2" pattern="$3" logfile="$4" start=$SECONDS pid
  shift 4
  pid="$(cat "$pidfile")"
  until "$@" >/dev/null 2>&1; do
    if ! alive "$pid"; then
      fail_with_log "$name exited while starting" "$logfile"
    fi
    if [ $((SECONDS - start)) -ge "$TIMEOUT_S" ]; then
      fail_with_log "$name was not ready after $TIMEOUT_S s (CHAT_SVC_TIMEOUT_S)" "$logfile"
    fi
    sleep 0.5
  done
  ours "$pidfile" "$pattern" || fail_with_log "$name answered, but pid $pid is not a $pattern process" "$logfile"
}

fail_with_log() {
  echo "[services] error: $1; last lines of $2:" >&2
  tail -n 40 "$2" >&2 2>/dev/null || echo "(no log)" >&2
  exit 1
}

# stop_service NAME PIDFILE PATTERN: stops our process by its pid file (SIGTERM, then SIGKILL after
# 60 s) and says what it did. A pid file that names no live process of ours is only removed.
stop_service() {
  local name="$1" pidfile="$2" pattern="$3" pid start=$SECONDS
  if [ ! -f "$pidfile" ]; then
    log "$name: not running (no pid file)"
    return
  fi
  pid="$(cat "$pidfile")"
  if ! ours "$pidfile" "$pattern"; then
    log "$name: not running (removed stale pid file naming pid $pid)"
    rm -f "$pidfile"
    return
  fi
  kill -TERM "$pid"
  while alive "$pid" && [ $((SECONDS - start)) -lt 60 ]; do sleep 0.2; done
  if alive "$pid"; then
    kill -KILL "$pid"
    log "$name: killed pid $pid (SIGKILL: it had not exited 60 s after SIGTERM)"
  else
    log "$name: stopped pid $pid in $((SECONDS - start)) s"
  fi
  rm -f "$pidfile"
}

# The command-line patterns that identify each service's process (see ours()).
NATS_PATTERN="nats-server"
REDIS_PATTERN="redis-server"
CASSANDRA_PATTERN="org.apache.cassandra.service.CassandraDaemon"
