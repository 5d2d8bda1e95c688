# Shared by up.sh and down.sh.
NATS_PORT="${CHAT_SVC_NATS_PORT:-14222}"
NATS_MONITOR_PORT="${CHAT_SVC_NATS_MONITOR_PORT:-18222}"
REDIS_PORT="${CHAT_SVC_REDIS_PORT:-16379}"
CQL_PORT="${CHAT_SVC_CQL_PORT:-19042}"
STORAGE_PORT="${CHAT_SVC_CASSANDRA_STORAGE_PORT:-17000}"

log() { echo "[services] $*"; }
die() { echo "[services] error: $*" >&2; exit 1; }

# True if the pid file names a live process.
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Prints a JDK 17 java binary, or fails.
java17() {
  local j
  for j in /usr/lib/jvm/java-17-openjdk-amd64/bin/java /usr/lib/jvm/java-17-openjdk-*/bin/java; do
    [ -x "$j" ] && { echo "$j"; return 0; }
  done
  if command -v java >/dev/null && java -version 2>&1 | grep -q 'version "17'; then command -v java; return 0; fi
  return 1
}

# wait_until NAME LOGFILE COMMAND...: polls COMMAND every second for up to $timeout_s seconds.
wait_until() {
  local name="$1" logfile="$2"; shift 2
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if [ $((SECONDS - start)) -ge "${timeout_s:-180}" ]; then
      echo "[services] $name was not ready after ${timeout_s:-180} s; last lines of $logfile:" >&2
      tail -n 30 "$logfile" >&2 || true
      exit 1
    fi
    sleep 1
  done
  log "$name ready after $((SECONDS - start)) s"
}
