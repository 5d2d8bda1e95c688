#!/usr/bin/env bash
# scripts/k8s/backends.sh NAMESPACE... — publishes the backends of `npm run services:up` in each
# namespace of the k8s:up cluster under the names the samples use (crds/samples/minimal.yaml):
# Services `nats` (4222), `redis` (6379) and `cassandra` (9042) without a selector, each with an
# EndpointSlice naming the node address, where k8s:up's relay passes connections on to the servers on
# 127.0.0.1 (ports of scripts/services/common.sh). Creates the namespace when missing; idempotent
# (server-side apply). k8s:up runs it for `default`; remove a namespace to remove them.
# With --secure first: the same names for the backends of `services:up -- --secure` (credentials and
# TLS; their certificate names nats, redis and cassandra), through the relay's ports for them.
set -euo pipefail
exec >&2
. "$(cd "$(dirname "$0")" && pwd)/../services/common.sh"
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
. "$(cd "$(dirname "$0")" && pwd)/node.sh"

targets=("nats:4222:4222" "redis:6379:6379" "cassandra:9042:9042")
what="relay to 127.0.0.1:$NATS_PORT, :$REDIS_PORT, :$CQL_PORT"
if [ "${1:-}" = --secure ]; then
  shift
  targets=("nats:4222:$SEC_NATS_PORT" "redis:6379:$SEC_REDIS_PORT" "cassandra:9042:$SEC_CQL_PORT")
  what="the secure backends: relay to 127.0.0.1:$SEC_NATS_PORT, :$SEC_REDIS_PORT, $SEC_CASSANDRA_HOST:$SEC_CQL_PORT"
fi
[ $# -gt 0 ] || die "usage: scripts/k8s/backends.sh [--secure] NAMESPACE..."
pki="$k8s_dir/pki"
tokens="$k8s_dir/tokens.csv"
[ -f "$tokens" ] || die "no cluster: run npm run k8s:up first"

for ns in "$@"; do
  [[ "$ns" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "not a namespace name: $ns"
  kube_apply "/api/v1/namespaces/$ns" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: $ns}
YAML
  for backend in "${targets[@]}"; do
    IFS=: read -r name port target <<<"$backend"
    # The EndpointSlice first: kube-proxy never sees the Service without endpoints (it would refuse
    # connections to it until the next sync).
    kube_apply "/apis/discovery.k8s.io/v1/namespaces/$ns/endpointslices/$name-node" <<YAML
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $name-node
  namespace: $ns
  labels:
    kubernetes.io/service-name: $name
    endpointslice.kubernetes.io/managed-by: chat-k8s-scripts
    app.kubernetes.io/part-of: chat-platform-test-backends
addressType: IPv4
endpoints:
  - addresses: ["$NODE_IP"]
    conditions: {ready: true}
ports:
  - {name: $name, port: $target, protocol: TCP}
YAML
    kube_apply "/api/v1/namespaces/$ns/services/$name" <<YAML
apiVersion: v1
kind: Service
metadata:
  name: $name
  namespace: $ns
  labels: {app.kubernetes.io/part-of: chat-platform-test-backends}
spec:
  ports:
    - {name: $name, port: $port, protocol: TCP, targetPort: $target}
YAML
  done
  log "backends in namespace $ns: nats:4222, redis:6379, cassandra:9042 -> $NODE_IP ($what)"
done
