# The clustered topology of `npm run services:up -- --ha` (and `services:down -- --ha`), sourced by
# up.sh and down.sh after common.sh. Everything on loopback, beside the single-server services
# (other ports, its own folder $svc/ha), so both can run at once:
#
#   NATS    3 servers of nats-server $HA_NATS_VERSION (built once from the Go module proxy into
#           ${XDG_CACHE_HOME:-~/.cache}/chat-platform/nats-server/<version>), one JetStream cluster:
#           clients 127.0.0.1:24222-24224, routes 26222-26224, monitoring 28222-28224
#   Redis   a Redis Cluster of 3 masters (no replicas): 127.0.0.1:26379-26381 (bus: +10000)
#   Cassandra 3 nodes of one ring, 127.0.0.1, 127.0.0.2, 127.0.0.3, CQL port 29042, storage 27000,
#           JMX 27199-27201, heap 512 MiB each, started one after another (a node joins once the
#           seed answers)
#
# Writes $svc/env-ha: nodes started with it join the clustered services. Idempotent: what runs is
# left alone, what is missing is started (a server killed by a test comes back with `up --ha`).
# Settings: CHAT_SVC_HA_NATS_SYNC (JetStream sync_interval, default "always": every acknowledged
# message is on disk; "2m" is the NATS default), CHAT_SVC_TIMEOUT_S, CHAT_SVC_ONLY (as for up.sh).

HA_NATS_VERSION="${CHAT_SVC_HA_NATS_VERSION:-v2.15.3}"
HA_NATS_BIN="${XDG_CACHE_HOME:-$HOME/.cache}/chat-platform/nats-server/$HA_NATS_VERSION/nats-server"
HA_NATS_SYNC="${CHAT_SVC_HA_NATS_SYNC:-always}"
HA_NATS_PORTS=(24222 24223 24224)
HA_NATS_ROUTE_PORTS=(26222 26223 26224)
HA_NATS_MONITOR_PORTS=(28222 28223 28224)
HA_REDIS_PORTS=(26379 26380 26381)
HA_CASSANDRA_HOSTS=(127.0.0.1 127.0.0.2 127.0.0.3)
HA_CQL_PORT=29042
HA_STORAGE_PORT=27000
HA_JMX_PORTS=(27199 27200 27201)
ha="$svc/ha"

# Progress goes to stderr (stdout stays free for callers that read it).
log() { echo "[services:ha] $*" >&2; }

build_nats() {
  [ -x "$HA_NATS_BIN" ] && return
  command -v go >/dev/null || die "go not found on PATH (needed once to build nats-server $HA_NATS_VERSION)"
  local dir
  dir="$(dirname "$HA_NATS_BIN")"
  mkdir -p "$dir"
  exec 8>"$dir/.build.lock"
  flock 8
  if [ ! -x "$HA_NATS_BIN" ]; then
    log "building nats-server $HA_NATS_VERSION from the Go module proxy (first run only, ~1 min; into $dir)"
    local start=$SECONDS
    GOBIN="$dir/.tmp" GOFLAGS=-mod=mod nice -n 10 go install -trimpath -ldflags "-s -w" \
      "github.com/nats-io/nats-server/v2@$HA_NATS_VERSION" >&2 || die "go install of nats-server $HA_NATS_VERSION failed"
    mv -f "$dir/.tmp/nats-server" "$HA_NATS_BIN"
    rmdir "$dir/.tmp" 2>/dev/null || true
    log "built nats-server in $((SECONDS - start)) s"
  fi
  exec 8>&-
}

nats_conf() {
  local i="$1" routes="" p
  for p in "${HA_NATS_ROUTE_PORTS[@]}"; do routes+="    nats-route://127.0.0.1:$p\n"; done
  printf 'server_name: n%s\nlisten: 127.0.0.1:%s\nhttp: 127.0.0.1:%s\nmax_payload: 1MB\njetstream {\n  store_dir: "%s"\n  sync_interval: %s\n  max_memory_store: 256MB\n  max_file_store: 4GB\n}\ncluster {\n  name: chat-ha\n  listen: 127.0.0.1:%s\n  routes: [\n%b  ]\n}\n' \
    "$i" "${HA_NATS_PORTS[$i]}" "${HA_NATS_MONITOR_PORTS[$i]}" "$ha/nats/n$i/jetstream" "$HA_NATS_SYNC" \
    "${HA_NATS_ROUTE_PORTS[$i]}" "$routes"
}

ha_nats_ready() {
  local p
  for p in "${HA_NATS_MONITOR_PORTS[@]}"; do
    curl -sf "http://127.0.0.1:$p/healthz" >/dev/null || return 1
  done
  # A JetStream meta leader is elected: streams can be created.
  curl -sf "http://127.0.0.1:${HA_NATS_MONITOR_PORTS[0]}/jsz" | grep '"leader"' >/dev/null
}

start_ha_nats() {
  build_nats
  local i dir started=()
  for i in 0 1 2; do
    dir="$ha/nats/n$i"
    mkdir -p "$dir/jetstream"
    nats_conf "$i" >"$dir/nats.conf"
    if ours "$dir/nats.pid" "$HA_NATS_BIN"; then continue; fi
    listening "${HA_NATS_PORTS[$i]}" && die "port ${HA_NATS_PORTS[$i]} is taken by another program"
    log "starting nats-server n$i on 127.0.0.1:${HA_NATS_PORTS[$i]} (sync_interval: $HA_NATS_SYNC)"
    spawn "$dir/nats.pid" "$dir/nats.log" "$HA_NATS_BIN" -c "$dir/nats.conf"
    started+=("$i")
  done
  [ ${#started[@]} -eq 0 ] && log "nats: 3 servers already running"
  local start=$SECONDS
  for i in "${started[@]}"; do
    wait_ready "nats n$i" "$ha/nats/n$i/nats.pid" "$HA_NATS_BIN" "$ha/nats/n$i/nats.log" \
      curl -sf "http://127.0.0.1:${HA_NATS_MONITOR_PORTS[$i]}/varz"
  done
  wait_ready "nats cluster" "$ha/nats/n0/nats.pid" "$HA_NATS_BIN" "$ha/nats/n0/nats.log" ha_nats_ready
  [ ${#started[@]} -gt 0 ] && log "nats cluster ready after $((SECONDS - start)) s"
  return 0
}

ha_redis_cluster_ok() {
  local p
  for p in "${HA_REDIS_PORTS[@]}"; do
    redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | grep '^cluster_state:ok' >/dev/null || return 1
  done
}

start_ha_redis() {
  local i dir port started=0
  for i in 0 1 2; do
    dir="$ha/redis/r$i"
    port="${HA_REDIS_PORTS[$i]}"
    mkdir -p "$dir"
    if ours "$dir/redis.pid" "$REDIS_PATTERN"; then continue; fi
    listening "$port" && die "port $port is taken by another program"
    log "starting redis-server r$i on 127.0.0.1:$port (cluster mode)"
    spawn "$dir/redis.pid" "$dir/redis.log" redis-server --port "$port" --bind 127.0.0.1 \
      --save "" --appendonly no --dir "$dir" --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout 2000 --cluster-require-full-coverage no
    wait_ready "redis r$i" "$dir/redis.pid" "$REDIS_PATTERN" "$dir/redis.log" \
      redis-cli -h 127.0.0.1 -p "$port" ping
    started=$((started + 1))
  done
  [ $started -eq 0 ] && log "redis: 3 masters already running"
  # A fresh set of servers has no slots yet: make the cluster. Restarted ones keep nodes.conf and
  # find each other again.
  if ! redis-cli -h 127.0.0.1 -p "${HA_REDIS_PORTS[0]}" cluster info | grep '^cluster_slots_assigned:16384' >/dev/null; then
    log "creating the Redis Cluster (3 masters, no replicas)"
    redis-cli --cluster create "${HA_REDIS_PORTS[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes \
      >"$ha/redis/create.log" 2>&1 || fail_with_log "redis-cli --cluster create failed" "$ha/redis/create.log"
  fi
  wait_ready "redis cluster" "$ha/redis/r0/redis.pid" "$REDIS_PATTERN" "$ha/redis/r0/redis.log" ha_redis_cluster_ok
}

start_ha_cassandra() {
  local i dir host java jamm seed="${HA_CASSANDRA_HOSTS[0]}:$HA_STORAGE_PORT"
  [ -n "$(compgen -G "$svc/cassandra/lib/cassandra-all-*.jar")" ] || install_cassandra
  java="$(java17)" || die "JDK 17 not found (Cassandra 5.0 needs 11 or 17)"
  jamm="$(compgen -G "$svc/cassandra/lib/jamm-*.jar" | sed -n 1p)" || die "jamm jar missing in $svc/cassandra/lib"
  for i in 0 1 2; do
    dir="$ha/cassandra/c$i"
    host="${HA_CASSANDRA_HOSTS[$i]}"
    mkdir -p "$dir/logs" "$dir/data"
    if ours "$dir/cassandra.pid" "$CASSANDRA_PATTERN"; then continue; fi
    listening_on "$host" "$HA_CQL_PORT" && die "$host:$HA_CQL_PORT is taken by another program"
    sed -e "s|@DIR@|$dir/data|g" -e "s|@HOST@|$host|g" -e "s|@SEED@|$seed|g" \
      -e "s|@CQL_PORT@|$HA_CQL_PORT|g" -e "s|@STORAGE_PORT@|$HA_STORAGE_PORT|g" \
      "$here/cassandra/cassandra-ha.yaml" >"$dir/cassandra.yaml"
    log "starting cassandra c$i on $host:$HA_CQL_PORT (takes 20-60 s)"
    # shellcheck disable=SC2046 # one JVM option per line; the later -Xms/-Xmx win
    spawn "$dir/cassandra.pid" "$dir/logs/stdout.log" "$java" \
      $(grep -v '^#' "$here/cassandra/jvm.options" | grep -v '^$') \
      -Xms512m -Xmx512m -XX:ActiveProcessorCount=2 \
      -javaagent:"$jamm" \
      -Dcassandra.ring_delay_ms=1000 \
      -Dcassandra.jmx.local.port="${HA_JMX_PORTS[$i]}" \
      -Dcassandra.config="file://$dir/cassandra.yaml" \
      -Dcassandra.storagedir="$dir/data" \
      -Dcassandra.logdir="$dir/logs" \
      -Dlogback.configurationFile="$here/cassandra/logback.xml" \
      -cp "$svc/cassandra/lib/*" org.apache.cassandra.service.CassandraDaemon
    local start=$SECONDS
    wait_ready "cassandra c$i" "$dir/cassandra.pid" "$CASSANDRA_PATTERN" "$dir/logs/stdout.log" \
      "$root/node_modules/.bin/node" "$here/cql-ready.ts" "$host:$HA_CQL_PORT"
    log "cassandra c$i ready after $((SECONDS - start)) s"
  done
  # Every node sees the two others up (system.peers plus gossip through a query on each).
  wait_ready "cassandra ring" "$ha/cassandra/c0/cassandra.pid" "$CASSANDRA_PATTERN" \
    "$ha/cassandra/c0/logs/stdout.log" "$root/node_modules/.bin/node" "$here/cql-ready.ts" \
    "${HA_CASSANDRA_HOSTS[0]}:$HA_CQL_PORT" 2
}

write_ha_env() {
  local nats="" redis="" cql="" i
  for i in 0 1 2; do
    nats+="${nats:+,}nats://127.0.0.1:${HA_NATS_PORTS[$i]}"
    redis+="${redis:+,}127.0.0.1:${HA_REDIS_PORTS[$i]}"
    cql+="${cql:+,}${HA_CASSANDRA_HOSTS[$i]}:$HA_CQL_PORT"
  done
  {
    echo "CHAT_NATS_URL=$nats"
    echo "CHAT_NATS_STREAM_REPLICAS=3"
    echo "CHAT_REDIS_URL=redis+cluster://$redis"
    echo "CHAT_CASSANDRA_CONTACT_POINTS=$cql"
    echo "CHAT_CASSANDRA_LOCAL_DC=datacenter1"
    echo "CHAT_CASSANDRA_KEYSPACE=chat"
    echo "CHAT_CASSANDRA_REPLICATION=3"
  } >"$svc/env-ha"
  log "wrote $svc/env-ha"
}

ha_up() {
  mkdir -p "$ha"
  install_debian_packages
  wanted nats && start_ha_nats
  wanted redis && start_ha_redis
  wanted cassandra && start_ha_cassandra
  write_ha_env
  log "ready (stop with: npm run services:down -- --ha)"
}

ha_down() {
  local i
  if wanted cassandra; then
    for i in 2 1 0; do stop_service "cassandra c$i" "$ha/cassandra/c$i/cassandra.pid" "$CASSANDRA_PATTERN"; done
  fi
  if wanted redis; then
    for i in 0 1 2; do stop_service "redis r$i" "$ha/redis/r$i/redis.pid" "$REDIS_PATTERN"; done
  fi
  if wanted nats; then
    for i in 0 1 2; do stop_service "nats n$i" "$ha/nats/n$i/nats.pid" "$HA_NATS_BIN"; done
  fi
  return 0
}
