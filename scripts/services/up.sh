#!/usr/bin/env bash
# npm run services:up — installs what is missing and starts the real backends on loopback:
#   NATS with JetStream (Debian nats-server), Redis (Debian redis-server), and Apache Cassandra 5.0
#   (jars from Maven Central, run on JDK 17). Idempotent: running services are left alone.
# Writes .services/env with the CHAT_* lines a chat node needs to join them.
#
# Ports (environment overrides):
#   CHAT_SVC_NATS_PORT=14222  CHAT_SVC_NATS_MONITOR_PORT=18222  CHAT_SVC_REDIS_PORT=16379
#   CHAT_SVC_CQL_PORT=19042   CHAT_SVC_CASSANDRA_STORAGE_PORT=17000
# Other: CHAT_SVC_ONLY="nats redis" starts a subset; CHAT_SVC_TIMEOUT_S=180 bounds each readiness wait.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
svc="$root/.services"
. "$here/common.sh"

only="${CHAT_SVC_ONLY:-nats redis cassandra}"
timeout_s="${CHAT_SVC_TIMEOUT_S:-180}"

install_debian_packages() {
  local missing=()
  command -v nats-server >/dev/null || missing+=(nats-server)
  command -v redis-server >/dev/null || missing+=(redis-server)
  if [[ " $only " == *" cassandra "* ]] && ! java17 >/dev/null; then missing+=(openjdk-17-jre-headless); fi
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  # Debian starts a package's service on install; forbid it, we run our own on other ports.
  local had_policy=0
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ $had_policy -eq 1 ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ $had_policy -eq 1 ] || rm -f /usr/sbin/policy-rc.d
}

install_cassandra() {
  if compgen -G "$svc/cassandra/lib/cassandra-all-*.jar" >/dev/null; then return; fi
  command -v mvn >/dev/null || { log "installing maven (apt-get)"; apt-get update -qq; apt-get install -y -qq maven >/dev/null; }
  log "fetching Cassandra jars from Maven Central (first run only; Maven caches them)"
  mvn -q -B -f "$here/cassandra/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$svc/cassandra/lib" -DincludeScope=runtime
}

start_nats() {
  local dir="$svc/nats" pid="$svc/nats/nats.pid"
  mkdir -p "$dir/jetstream"
  if running "$pid"; then log "nats already running (pid $(cat "$pid"))"; return; fi
  log "starting nats-server on 127.0.0.1:$NATS_PORT (JetStream in $dir/jetstream)"
  nohup nats-server -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" -js -sd "$dir/jetstream" \
    --pid "$pid" >"$dir/nats.log" 2>&1 &
  wait_until "nats" "$dir/nats.log" curl -sf "http://127.0.0.1:$NATS_MONITOR_PORT/healthz?js-enabled-only=true"
}

start_redis() {
  local dir="$svc/redis" pid="$svc/redis/redis.pid"
  mkdir -p "$dir"
  if running "$pid"; then log "redis already running (pid $(cat "$pid"))"; return; fi
  log "starting redis-server on 127.0.0.1:$REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --pidfile "$pid" --logfile "$dir/redis.log" --dir "$dir"
  wait_until "redis" "$dir/redis.log" redis_ping
}

redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

start_cassandra() {
  local dir="$svc/cassandra" pid="$svc/cassandra/cassandra.pid" java
  mkdir -p "$dir/logs" "$dir/data"
  if running "$pid"; then log "cassandra already running (pid $(cat "$pid"))"; return; fi
  java="$(java17)" || die "JDK 17 not found (Cassandra 5.0 needs 11 or 17)"
  sed -e "s|@DIR@|$dir/data|g" -e "s|@CQL_PORT@|$CQL_PORT|g" -e "s|@STORAGE_PORT@|$STORAGE_PORT|g" \
    "$here/cassandra/cassandra.yaml" >"$dir/cassandra.yaml"
  log "starting cassandra on 127.0.0.1:$CQL_PORT (JDK: $java; takes 15-40 s)"
  local jamm
  jamm="$(compgen -G "$dir/lib/jamm-*.jar" | head -1)"
  # shellcheck disable=SC2046 # one JVM option per line
  nohup "$java" $(grep -v '^#' "$here/cassandra/jvm.options" | grep -v '^$') \
    -javaagent:"$jamm" \
    -Dcassandra.config="file://$dir/cassandra.yaml" \
    -Dcassandra.storagedir="$dir/data" \
    -Dcassandra.logdir="$dir/logs" \
    -Dcassandra-pidfile="$pid" \
    -Dlogback.configurationFile="$here/cassandra/logback.xml" \
    -cp "$dir/lib/*" org.apache.cassandra.service.CassandraDaemon >"$dir/logs/stdout.log" 2>&1 &
  echo $! >"$pid"
  wait_until "cassandra" "$dir/logs/system.log" node "$here/cql-ready.ts" "127.0.0.1:$CQL_PORT"
}

write_env() {
  {
    echo "CHAT_NATS_URL=nats://127.0.0.1:$NATS_PORT"
    echo "CHAT_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
    echo "CHAT_CASSANDRA_CONTACT_POINTS=127.0.0.1:$CQL_PORT"
    echo "CHAT_CASSANDRA_LOCAL_DC=datacenter1"
    echo "CHAT_CASSANDRA_KEYSPACE=chat"
  } >"$svc/env"
  log "wrote $svc/env"
}

mkdir -p "$svc"
install_debian_packages
[[ " $only " == *" cassandra "* ]] && install_cassandra
[[ " $only " == *" nats "* ]] && start_nats
[[ " $only " == *" redis "* ]] && start_redis
[[ " $only " == *" cassandra "* ]] && start_cassandra
write_env
log "ready"
