# The secured topology of `npm run services:up -- --secure` (and `services:down -- --secure`),
# sourced by up.sh and down.sh after common.sh: the backends as a production install has them, each
# asking for credentials and speaking TLS, beside the other topologies (other ports, $svc/secure):
#
#   NATS      127.0.0.1:34222 (monitoring 38222), TLS, user `chat` with a password, JetStream
#   Redis     127.0.0.1:16380, TLS only, ACL user `chat` with a password (the default user is off)
#   Cassandra 127.0.0.4:39042 (storage 37000, JMX 37199), client TLS, PasswordAuthenticator, a
#             login role `chat` with a password (created once through the default superuser)
#
# One CA signs every server's certificate (SANs: localhost, nats, redis, cassandra, 127.0.0.1,
# 127.0.0.4, 10.250.0.1). The passwords are random, made once per machine. Writes $svc/env-secure:
# the CHAT_* lines that a node started with it needs (addresses, credentials, the CA file).

SEC_NATS_MONITOR_PORT=38222
SEC_STORAGE_PORT=37000
SEC_JMX_PORT=37199
sec="$svc/secure"

log() { echo "[services:secure] $*" >&2; }

# make_secrets: the CA, one server certificate and the passwords, made once.
make_secrets() {
  local tls="$sec/tls"
  mkdir -p "$tls"
  chmod 700 "$sec"
  if [ ! -s "$tls/server.pem" ]; then
    log "making a CA and a server certificate ($tls)"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=chat-platform test CA" \
      -keyout "$tls/ca.key" -out "$tls/ca.crt" >/dev/null 2>&1 || die "openssl could not make the CA"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=chat-platform test backends" \
      -keyout "$tls/server.key" -out "$tls/server.csr" >/dev/null 2>&1 || die "openssl could not make a key"
    printf 'subjectAltName=DNS:localhost,DNS:nats,DNS:redis,DNS:cassandra,IP:127.0.0.1,IP:127.0.0.4,IP:10.250.0.1\n' \
      >"$tls/san.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
      -days 3650 -extfile "$tls/san.ext" -out "$tls/server.crt" >/dev/null 2>&1 || die "openssl could not sign"
    # Cassandra's PEM keystore: the unencrypted PKCS#8 key, then the certificate.
    openssl pkcs8 -topk8 -nocrypt -in "$tls/server.key" -out "$tls/server.pk8" || die "openssl pkcs8 failed"
    cat "$tls/server.pk8" "$tls/server.crt" >"$tls/server.pem"
    chmod 600 "$tls"/*
  fi
  local name
  for name in nats redis cassandra; do
    [ -s "$sec/$name.password" ] || (umask 077 && openssl rand -hex 16 >"$sec/$name.password")
  done
}

start_secure_nats() {
  local dir="$sec/nats"
  mkdir -p "$dir/jetstream"
  printf 'listen: 127.0.0.1:%s\nhttp: 127.0.0.1:%s\njetstream { store_dir: "%s" }\ntls {\n  cert_file: "%s"\n  key_file: "%s"\n}\nauthorization {\n  user: chat\n  password: "%s"\n}\n' \
    "$SEC_NATS_PORT" "$SEC_NATS_MONITOR_PORT" "$dir/jetstream" "$sec/tls/server.crt" "$sec/tls/server.key" \
    "$(cat "$sec/nats.password")" >"$dir/nats.conf"
  chmod 600 "$dir/nats.conf"
  if ours "$dir/nats.pid" "$NATS_PATTERN"; then
    log "nats already running (pid $(cat "$dir/nats.pid"))"
    return
  fi
  listening "$SEC_NATS_PORT" && die "port $SEC_NATS_PORT is taken by another program"
  log "starting nats-server on 127.0.0.1:$SEC_NATS_PORT (TLS, user chat)"
  spawn "$dir/nats.pid" "$dir/nats.log" nats-server -c "$dir/nats.conf"
  wait_ready nats "$dir/nats.pid" "$NATS_PATTERN" "$dir/nats.log" \
    curl -sf "http://127.0.0.1:$SEC_NATS_MONITOR_PORT/healthz?js-enabled-only=true"
}

secure_redis_ping() {
  [ "$(REDISCLI_AUTH="$(cat "$sec/redis.password")" redis-cli -h 127.0.0.1 -p "$SEC_REDIS_PORT" --tls \
    --cacert "$sec/tls/ca.crt" --user chat ping 2>/dev/null)" = "PONG" ]
}

start_secure_redis() {
  local dir="$sec/redis"
  mkdir -p "$dir"
  printf 'user default off\nuser chat on >%s ~* &* +@all\n' "$(cat "$sec/redis.password")" >"$dir/users.acl"
  chmod 600 "$dir/users.acl"
  if ours "$dir/redis.pid" "$REDIS_PATTERN"; then
    log "redis already running (pid $(cat "$dir/redis.pid"))"
    return
  fi
  listening "$SEC_REDIS_PORT" && die "port $SEC_REDIS_PORT is taken by another program"
  log "starting redis-server on 127.0.0.1:$SEC_REDIS_PORT (TLS only, ACL user chat)"
  spawn "$dir/redis.pid" "$dir/redis.log" redis-server --port 0 --tls-port "$SEC_REDIS_PORT" \
    --bind 127.0.0.1 --tls-cert-file "$sec/tls/server.crt" --tls-key-file "$sec/tls/server.key" \
    --tls-ca-cert-file "$sec/tls/ca.crt" --tls-auth-clients no --aclfile "$dir/users.acl" \
    --save "" --appendonly no --dir "$dir"
  wait_ready redis "$dir/redis.pid" "$REDIS_PATTERN" "$dir/redis.log" secure_redis_ping
}

secure_cql() {
  CHAT_CQL_CA_FILE="$sec/tls/ca.crt" "$root/node_modules/.bin/node" "$here/cql-ready.ts" \
    "$SEC_CASSANDRA_HOST:$SEC_CQL_PORT"
}

start_secure_cassandra() {
  local dir="$sec/cassandra" java jamm
  [ -n "$(compgen -G "$svc/cassandra/lib/cassandra-all-*.jar")" ] || install_cassandra
  mkdir -p "$dir/logs" "$dir/data"
  if ours "$dir/cassandra.pid" "$CASSANDRA_PATTERN"; then
    log "cassandra already running (pid $(cat "$dir/cassandra.pid"))"
  else
    listening_on "$SEC_CASSANDRA_HOST" "$SEC_CQL_PORT" && die "$SEC_CASSANDRA_HOST:$SEC_CQL_PORT is taken by another program"
    java="$(java17)" || die "JDK 17 not found (Cassandra 5.0 needs 11 or 17)"
    jamm="$(compgen -G "$svc/cassandra/lib/jamm-*.jar" | sed -n 1p)" || die "jamm jar missing in $svc/cassandra/lib"
    sed -e "s|@DIR@|$dir/data|g" -e "s|@HOST@|$SEC_CASSANDRA_HOST|g" -e "s|@CERT@|$sec/tls/server.pem|g" \
      -e "s|@CQL_PORT@|$SEC_CQL_PORT|g" -e "s|@STORAGE_PORT@|$SEC_STORAGE_PORT|g" \
      "$here/cassandra/cassandra-secure.yaml" >"$dir/cassandra.yaml"
    log "starting cassandra on $SEC_CASSANDRA_HOST:$SEC_CQL_PORT (TLS, password authentication; takes 20-60 s)"
    # shellcheck disable=SC2046 # one JVM option per line; the later -Xms/-Xmx win
    spawn "$dir/cassandra.pid" "$dir/logs/stdout.log" "$java" \
      $(grep -v '^#' "$here/cassandra/jvm.options" | grep -v '^$') \
      -Xms512m -Xmx512m -XX:ActiveProcessorCount=2 \
      -javaagent:"$jamm" \
      -Dcassandra.superuser_setup_delay_ms=500 \
      -Dcassandra.jmx.local.port="$SEC_JMX_PORT" \
      -Dcassandra.config="file://$dir/cassandra.yaml" \
      -Dcassandra.storagedir="$dir/data" \
      -Dcassandra.logdir="$dir/logs" \
      -Dlogback.configurationFile="$here/cassandra/logback.xml" \
      -cp "$svc/cassandra/lib/*" org.apache.cassandra.service.CassandraDaemon
  fi
  local start=$SECONDS
  # Ready once the default superuser can log in over TLS and the role `chat` exists.
  CHAT_CQL_USERNAME=cassandra CHAT_CQL_PASSWORD=cassandra \
    CHAT_CQL_ENSURE_ROLE="chat:$(cat "$sec/cassandra.password")" \
    wait_ready cassandra "$dir/cassandra.pid" "$CASSANDRA_PATTERN" "$dir/logs/stdout.log" secure_cql
  log "cassandra ready after $((SECONDS - start)) s"
}

write_secure_env() {
  {
    echo "CHAT_NATS_URL=tls://127.0.0.1:$SEC_NATS_PORT"
    echo "CHAT_NATS_USER=chat"
    echo "CHAT_NATS_PASSWORD=$(cat "$sec/nats.password")"
    echo "CHAT_NATS_TLS_CA_FILE=$sec/tls/ca.crt"
    echo "CHAT_REDIS_URL=rediss://127.0.0.1:$SEC_REDIS_PORT"
    echo "CHAT_REDIS_USERNAME=chat"
    echo "CHAT_REDIS_PASSWORD=$(cat "$sec/redis.password")"
    echo "CHAT_REDIS_TLS_CA_FILE=$sec/tls/ca.crt"
    echo "CHAT_CASSANDRA_CONTACT_POINTS=$SEC_CASSANDRA_HOST:$SEC_CQL_PORT"
    echo "CHAT_CASSANDRA_LOCAL_DC=datacenter1"
    echo "CHAT_CASSANDRA_KEYSPACE=chat"
    echo "CHAT_CASSANDRA_REPLICATION=1"
    echo "CHAT_CASSANDRA_USERNAME=chat"
    echo "CHAT_CASSANDRA_PASSWORD=$(cat "$sec/cassandra.password")"
    echo "CHAT_CASSANDRA_TLS_CA_FILE=$sec/tls/ca.crt"
  } >"$svc/env-secure"
  chmod 600 "$svc/env-secure"
  log "wrote $svc/env-secure"
}

secure_up() {
  mkdir -p "$sec"
  install_debian_packages
  make_secrets
  wanted nats && start_secure_nats
  wanted redis && start_secure_redis
  wanted cassandra && start_secure_cassandra
  write_secure_env
  log "ready (stop with: npm run services:down -- --secure)"
}

secure_down() {
  wanted cassandra && stop_service cassandra "$sec/cassandra/cassandra.pid" "$CASSANDRA_PATTERN"
  wanted redis && stop_service redis "$sec/redis/redis.pid" "$REDIS_PATTERN"
  wanted nats && stop_service nats "$sec/nats/nats.pid" "$NATS_PATTERN"
  return 0
}
