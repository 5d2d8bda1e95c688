#!/usr/bin/env bash
# npm run services:up — installs what is missing and starts the real backends on loopback:
#   NATS with JetStream (Debian nats-server), Redis (Debian redis-server), and Apache Cassandra 5.0
#   (jars from Maven Central, run on JDK 17). Idempotent: services already running are left alone.
# Writes .services/env with the CHAT_* lines a chat node needs to join them.
#
# Settings (environment):
#   CHAT_SVC_NATS_PORT=14222  CHAT_SVC_NATS_MONITOR_PORT=18222  CHAT_SVC_REDIS_PORT=16379
#   CHAT_SVC_CQL_PORT=19042   CHAT_SVC_CASSANDRA_STORAGE_PORT=17000  CHAT_SVC_CASSANDRA_JMX_PORT=17199
#   CHAT_SVC_ONLY="nats redis" starts a subset; CHAT_SVC_TIMEOUT_S=180 bounds each readiness wait;
#   CHAT_SVC_DIR=.services is where data, logs and pid files go.
# With --ha: the clustered topology instead (three NATS servers, a three-master Redis Cluster, a
# three-node Cassandra ring; .services/env-ha), see ha.sh. With --secure: backends that ask for
# credentials and speak TLS (.services/env-secure), see secure.sh.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
topology=single
for arg in "$@"; do
  case "$arg" in
  --ha) topology=ha ;;
  --secure) topology=secure ;;
  *) die "unknown argument $arg (--ha or --secure)" ;;
  esac
done

# Prints a JDK 17 java binary (Cassandra 5.0 runs on 11 or 17; 18+ breaks its security manager use).
java17() {
  local j
  for j in /usr/lib/jvm/java-17-openjdk-amd64/bin/java /usr/lib/jvm/java-17-openjdk-*/bin/java \
    /usr/lib/jvm/temurin-17-*/bin/java; do
    [ -x "$j" ] && {
      echo "$j"
      return 0
    }
  done
  return 1
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

install_debian_packages() {
  local missing=()
  wanted nats && ! command -v nats-server >/dev/null && missing+=(nats-server)
  wanted redis && ! command -v redis-server >/dev/null && missing+=(redis-server)
  wanted cassandra && ! java17 >/dev/null && missing+=(openjdk-17-jre-headless)
  wanted cassandra && ! command -v mvn >/dev/null && missing+=(maven)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]} (apt-get; once per machine)"
  as_root apt-get -o DPkg::Lock::Timeout=300 update -qq || die "apt-get update failed; install ${missing[*]} by hand"
  # Debian starts a package's service on install; forbid it while installing, we run our own.
  local policy=/usr/sbin/policy-rc.d ours_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod +x "$policy"
    ours_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null || die "apt-get install ${missing[*]} failed"
  [ $ours_policy -eq 1 ] && as_root rm -f "$policy"
  # A package's own service may have started anyway (no policy support): it listens on the default
  # ports, not ours, so it does not disturb us.
  return 0
}

install_cassandra() {
  if compgen -G "$svc/cassandra/lib/cassandra-all-*.jar" >/dev/null; then return; fi
  log "fetching Cassandra 5.0 jars with Maven (first run only; ~100 MB, cached in ~/.m2)"
  mvn -q -B -f "$here/cassandra/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$svc/cassandra/lib.tmp" -DincludeScope=runtime || die "Maven could not fetch Cassandra"
  rm -rf "$svc/cassandra/lib"
  mv "$svc/cassandra/lib.tmp" "$svc/cassandra/lib"
}

start_nats() {
  local dir="$svc/nats"
  mkdir -p "$dir/jetstream"
  if ours "$dir/nats.pid" "$NATS_PATTERN"; then
    log "nats already running (pid $(cat "$dir/nats.pid"))"
    return
  fi
  listening "$NATS_PORT" && die "port $NATS_PORT is taken by another program (set CHAT_SVC_NATS_PORT)"
  log "starting nats-server on 127.0.0.1:$NATS_PORT (JetStream in $dir/jetstream)"
  spawn "$dir/nats.pid" "$dir/nats.log" nats-server -a 127.0.0.1 -p "$NATS_PORT" \
    -m "$NATS_MONITOR_PORT" -js -sd "$dir/jetstream"
  local start=$SECONDS
  wait_ready nats "$dir/nats.pid" "$NATS_PATTERN" "$dir/nats.log" \
    curl -sf "http://127.0.0.1:$NATS_MONITOR_PORT/healthz?js-enabled-only=true"
  log "nats ready after $((SECONDS - start)) s"
}

start_redis() {
  local dir="$svc/redis"
  mkdir -p "$dir"
  if ours "$dir/redis.pid" "$REDIS_PATTERN"; then
    log "redis already running (pid $(cat "$dir/redis.pid"))"
    return
  fi
  listening "$REDIS_PORT" && die "port $REDIS_PORT is taken by another program (set CHAT_SVC_REDIS_PORT)"
  log "starting redis-server on 127.0.0.1:$REDIS_PORT"
  spawn "$dir/redis.pid" "$dir/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
    --save "" --appendonly no --dir "$dir"
  local start=$SECONDS
  wait_ready redis "$dir/redis.pid" "$REDIS_PATTERN" "$dir/redis.log" redis_ping
  log "redis ready after $((SECONDS - start)) s"
}

redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

start_cassandra() {
  local dir="$svc/cassandra" java jamm
  mkdir -p "$dir/logs" "$dir/data"
  if ours "$dir/cassandra.pid" "$CASSANDRA_PATTERN"; then
    log "cassandra already running (pid $(cat "$dir/cassandra.pid"))"
    return
  fi
  listening "$CQL_PORT" && die "port $CQL_PORT is taken by another program (set CHAT_SVC_CQL_PORT)"
  java="$(java17)" || die "JDK 17 not found (Cassandra 5.0 needs 11 or 17)"
  jamm="$(compgen -G "$dir/lib/jamm-*.jar" | sed -n 1p)" || die "jamm jar missing in $dir/lib"
  sed -e "s|@DIR@|$dir/data|g" -e "s|@CQL_PORT@|$CQL_PORT|g" -e "s|@STORAGE_PORT@|$STORAGE_PORT|g" \
    "$here/cassandra/cassandra.yaml" >"$dir/cassandra.yaml"
  log "starting cassandra on 127.0.0.1:$CQL_PORT (JDK: $java; takes 15-40 s)"
  # shellcheck disable=SC2046 # one JVM option per line
  spawn "$dir/cassandra.pid" "$dir/logs/stdout.log" "$java" \
    $(grep -v '^#' "$here/cassandra/jvm.options" | grep -v '^$') \
    -javaagent:"$jamm" \
    -Dcassandra.jmx.local.port="$JMX_PORT" \
    -Dcassandra.config="file://$dir/cassandra.yaml" \
    -Dcassandra.storagedir="$dir/data" \
    -Dcassandra.logdir="$dir/logs" \
    -Dlogback.configurationFile="$here/cassandra/logback.xml" \
    -cp "$dir/lib/*" org.apache.cassandra.service.CassandraDaemon
  local start=$SECONDS
  wait_ready cassandra "$dir/cassandra.pid" "$CASSANDRA_PATTERN" "$dir/logs/stdout.log" \
    "$root/node_modules/.bin/node" "$here/cql-ready.ts" "127.0.0.1:$CQL_PORT"
  log "cassandra ready after $((SECONDS - start)) s"
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
if [ "$topology" = ha ]; then
  . "$here/ha.sh"
  ha_up
  exit 0
fi
if [ "$topology" = secure ]; then
  . "$here/secure.sh"
  secure_up
  exit 0
fi
install_debian_packages
if wanted cassandra; then install_cassandra; fi
if wanted nats; then start_nats; fi
if wanted redis; then start_redis; fi
if wanted cassandra; then start_cassandra; fi
write_env
log "ready (stop with: npm run services:down)"
