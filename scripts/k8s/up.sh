#!/usr/bin/env bash
# npm run k8s:up — a one-node Kubernetes cluster where pods run, without Docker, as root:
#   etcd (Debian etcd-server); kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
#   kube-proxy (built once from the k8s.io/kubernetes Go module through the wrapper in
#   scripts/k8s/build/); containerd v2 with ctr and its shim, crictl, and CoreDNS (built once from the
#   Go module proxy); Debian's runc and CNI plugins. Binaries are cached outside the repository in
#   ${XDG_CACHE_HOME:-~/.cache}/chat-platform/. The API server listens on 127.0.0.1; the node's address
#   is $NODE_IP (a /32 on lo), its pods get addresses of $POD_CIDR on a bridge, Services
#   $SERVICE_CIDR (DNS at $DNS_IP: CoreDNS, a host process, answers cluster.local only). Pods reach
#   the API server (the `kubernetes` Service) and the backends of services:up (Services nats, redis and
#   cassandra, see backends.sh) through a relay on the node address. Nothing is routed off the machine.
# Idempotent: what is already running is left alone. Writes .services/kubeconfig (admin, system:masters).
# Progress goes to stderr. npm run k8s:down stops everything and undoes the host changes.
#
# Settings (environment):
#   CHAT_K8S_PORT=16443 the API server's port; CHAT_K8S_ETCD_PORT=12379, CHAT_K8S_CONTROLLER_PORT=16257,
#   CHAT_K8S_SCHEDULER_PORT=16259, CHAT_K8S_PROXY_PORT=16256, CHAT_K8S_COREDNS_PORT=16280 are
#   preferences (a free port is picked when taken); CHAT_K8S_NODE_IP=10.250.0.1, CHAT_K8S_POD_CIDR=10.244.0.0/24;
#   CHAT_SVC_TIMEOUT_S=180 bounds each readiness wait; CHAT_SVC_DIR=.services is where data, logs,
#   certificates and pid files go (under k8s/).
set -euo pipefail
exec >&2
. "$(cd "$(dirname "$0")" && pwd)/../services/common.sh"
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
. "$(cd "$(dirname "$0")" && pwd)/node.sh"

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

etcd_healthy() { curl -sf --max-time 5 "http://127.0.0.1:$1/health" | grep '"health":"true"' >/dev/null; }

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
  # It advertises the node address: the `kubernetes` Service's endpoint is $NODE_IP:$K8S_PORT, where
  # the relay passes connections on to 127.0.0.1. It calls the kubelet at the node's InternalIP.
  spawn "$dir/apiserver.pid" "$dir/apiserver.log" "$K8S_BIN/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address="$NODE_IP" --secure-port="$K8S_PORT" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --cert-dir="$dir/certs" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --token-auth-file="$tokens" --authorization-mode=RBAC --allow-privileged=true \
    --kubelet-client-certificate="$pki/kubelet-client.crt" --kubelet-client-key="$pki/kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP 9>&-
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

[ "$(id -u)" -eq 0 ] || die "k8s:up runs the kubelet and containerd, which need root (run it as root or in a root CI job)"
[ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || die "no cgroup hierarchy under /sys/fs/cgroup"
mkdir -p "$k8s_dir"
# Two k8s:up at once (two terminals, a test runner) would race for the same pid files and ports.
# Every spawn closes this descriptor (9>&-): a server that inherited it would hold the lock forever.
exec 9>"$k8s_dir/up.lock"
flock 9
up_start=$SECONDS
install_etcd
install_node_packages
build_binaries
build_node_binaries
pki_changed=0
make_pki "$pki"
make_tokens "$tokens"
if [ "$pki_changed" -eq 1 ] && ours "$k8s_dir/apiserver/apiserver.pid" "$APISERVER_PATTERN"; then
  log "new certificates or tokens: restarting kube-apiserver"
  stop_service kube-apiserver "$k8s_dir/apiserver/apiserver.pid" "$APISERVER_PATTERN"
fi
record_host_state
setup_network
start_etcd
start_apiserver
start_controller_manager
write_kubeconfig "$svc/kubeconfig" "$(cat "$k8s_dir/apiserver/port")" "$pki/ca.crt" \
  "$(token_of "$tokens" admin)" admin
log "wrote $svc/kubeconfig"
start_scheduler
start_relay
start_containerd
import_pause_image
start_kubelet
start_proxy
start_coredns
apply_dns_service
# The backends of services:up as Services in `default` (other namespaces: scripts/k8s/backends.sh NS).
bash "$k8s_here/backends.sh" default
log "kubernetes $K8S_VERSION ready in $((SECONDS - up_start)) s: node $NODE_NAME ($NODE_IP), pods $POD_CIDR (stop with: npm run k8s:down)"
