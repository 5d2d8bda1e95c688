#!/usr/bin/env bash
# npm run k8s:up — a real Kubernetes API server on loopback for the operator's tests, without Docker:
#   etcd (Debian etcd-server), kube-apiserver and kube-controller-manager (built once from the
#   k8s.io/kubernetes Go module through the wrapper in scripts/k8s/build/, cached outside the repo in
#   ${XDG_CACHE_HOME:-~/.cache}/chat-platform/k8s/<version>/). No kubelet and no scheduler: pods never
#   run, but CRDs, RBAC, garbage collection, StatefulSets (→ Pods) and service-account tokens work.
# Idempotent: what is already running is left alone. Writes .services/kubeconfig (admin, system:masters).
#
# Settings (environment):
#   CHAT_K8S_PORT=16443 the API server's port; CHAT_K8S_ETCD_PORT=12379 and CHAT_K8S_CONTROLLER_PORT=16257
#   are preferences (a free port is picked when taken); CHAT_SVC_TIMEOUT_S=180 bounds each readiness
#   wait; CHAT_SVC_DIR=.services is where data, logs, certificates and pid files go (under k8s/).
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/../services/common.sh"
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

pki="$k8s_dir/pki"
tokens="$k8s_dir/tokens.csv"

start_etcd() {
  local dir="$k8s_dir/etcd" port peer
  mkdir -p "$dir"
  if ours "$dir/etcd.pid" "$ETCD_PATTERN"; then
    log "etcd already running (pid $(cat "$dir/etcd.pid"), port $(cat "$dir/port"))"
    return
  fi
  port="$(free_port "$ETCD_PORT_DEFAULT")"
  peer="$(free_port $((port + 1)))"
  log "starting etcd on 127.0.0.1:$port (data in $dir/data)"
  # --unsafe-no-fsync: test data, and fsync on a shared 2-core machine makes every write slow.
  spawn "$dir/etcd.pid" "$dir/etcd.log" "$(command -v etcd)" --name chat-k8s --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "chat-k8s=http://127.0.0.1:$peer" --unsafe-no-fsync 9>&-
  echo "$port" >"$dir/port"
  local start=$SECONDS
  wait_ready etcd "$dir/etcd.pid" "$ETCD_PATTERN" "$dir/etcd.log" etcd_healthy "$port"
  log "etcd ready after $((SECONDS - start)) s"
}

etcd_healthy() { curl -sf --max-time 5 "http://127.0.0.1:$1/health" | grep -q '"health":"true"'; }

start_apiserver() {
  local dir="$k8s_dir/apiserver" etcd_port
  mkdir -p "$dir/certs"
  if ours "$dir/apiserver.pid" "$APISERVER_PATTERN"; then
    log "kube-apiserver already running (pid $(cat "$dir/apiserver.pid"), port $(cat "$dir/port"))"
    return
  fi
  listening "$K8S_PORT" && die "port $K8S_PORT is taken by another program (set CHAT_K8S_PORT)"
  etcd_port="$(cat "$k8s_dir/etcd/port")"
  log "starting kube-apiserver $K8S_VERSION on 127.0.0.1:$K8S_PORT"
  # --endpoint-reconciler-type=none: the reconciler would publish the advertise address as the
  # `kubernetes` Service's endpoint and refuses a loopback one; nothing here runs in-cluster anyway.
  spawn "$dir/apiserver.pid" "$dir/apiserver.log" "$K8S_BIN/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$K8S_PORT" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --cert-dir="$dir/certs" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --token-auth-file="$tokens" --authorization-mode=RBAC --allow-privileged=true \
    --endpoint-reconciler-type=none 9>&-
  echo "$K8S_PORT" >"$dir/port"
  local start=$SECONDS
  wait_ready kube-apiserver "$dir/apiserver.pid" "$APISERVER_PATTERN" "$dir/apiserver.log" \
    https_ok "https://127.0.0.1:$K8S_PORT/readyz" --cacert "$pki/ca.crt" \
    -H "Authorization: Bearer $(token_of "$tokens" admin)"
  log "kube-apiserver ready after $((SECONDS - start)) s"
}

start_controller_manager() {
  local dir="$k8s_dir/controller-manager" port
  mkdir -p "$dir"
  if ours "$dir/kcm.pid" "$KCM_PATTERN"; then
    log "kube-controller-manager already running (pid $(cat "$dir/kcm.pid"))"
    return
  fi
  write_kubeconfig "$dir/kubeconfig" "$(cat "$k8s_dir/apiserver/port")" "$pki/ca.crt" \
    "$(token_of "$tokens" system:kube-controller-manager)" system:kube-controller-manager
  port="$(free_port "$KCM_PORT_DEFAULT")"
  log "starting kube-controller-manager (health on 127.0.0.1:$port)"
  # One instance, so no leader election; the root CA and the service-account key let the
  # serviceaccount-token controller mint the tokens pods would mount.
  spawn "$dir/kcm.pid" "$dir/kcm.log" "$K8S_BIN/kube-controller-manager" \
    --kubeconfig="$dir/kubeconfig" --bind-address=127.0.0.1 --secure-port="$port" --cert-dir="$dir/certs" \
    --controllers='*' --use-service-account-credentials=false --leader-elect=false \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --service-cluster-ip-range="$SERVICE_CIDR" 9>&-
  echo "$port" >"$dir/port"
  local start=$SECONDS
  wait_ready kube-controller-manager "$dir/kcm.pid" "$KCM_PATTERN" "$dir/kcm.log" \
    https_ok "https://127.0.0.1:$port/healthz" --insecure
  log "kube-controller-manager ready after $((SECONDS - start)) s"
}

mkdir -p "$k8s_dir"
# Two k8s:up at once (two terminals, a test runner) would race for the same pid files and ports.
# Every spawn closes this descriptor (9>&-): a server that inherited it would hold the lock forever.
exec 9>"$k8s_dir/up.lock"
flock 9
up_start=$SECONDS
install_etcd
build_binaries
make_pki "$pki"
make_tokens "$tokens"
start_etcd
start_apiserver
start_controller_manager
write_kubeconfig "$svc/kubeconfig" "$(cat "$k8s_dir/apiserver/port")" "$pki/ca.crt" \
  "$(token_of "$tokens" admin)" admin
log "wrote $svc/kubeconfig"
log "kubernetes $K8S_VERSION ready in $((SECONDS - up_start)) s (stop with: npm run k8s:down)"
