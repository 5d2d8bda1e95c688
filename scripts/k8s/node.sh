# The node half of the test cluster, sourced by scripts/k8s/up.sh and down.sh after lib.sh: containerd
# (v2, built from the Go module proxy) with Debian's runc and CNI plugins, the kubelet, kube-proxy,
# kube-scheduler, CoreDNS (a host process) and a TCP relay that lets pods reach loopback-bound servers
# through the node address. Everything stays inside the machine: the node address is a /32 on `lo`,
# pods live in network namespaces on a bridge that CNI creates, and a filter chain drops every
# forwarded packet from the pod range that is not for the pod range, the service range or the node.

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/chat-platform"
CONTAINERD_VERSION=v2.4.2
CRICTL_VERSION=v1.37.0
COREDNS_VERSION="$(awk '$1 == "require" && $2 == "github.com/coredns/coredns" { print $3 }' "$k8s_here/coredns/go.mod")"
CONTAINERD_BIN="$CACHE/containerd/$CONTAINERD_VERSION"
CRICTL_BIN="$CACHE/cri-tools/$CRICTL_VERSION"
COREDNS_BIN="$CACHE/coredns/$COREDNS_VERSION"

node_dir="$k8s_dir/node"
ctrd_dir="$k8s_dir/containerd"
ctrd_sock="$ctrd_dir/containerd.sock"
kubelet_dir="$k8s_dir/kubelet"
cni_dir="$k8s_dir/cni"

CONTAINERD_PATTERN='^[^ ]*/containerd --config '
KUBELET_PATTERN='^[^ ]*/kubelet '
PROXY_PATTERN='^[^ ]*/kube-proxy '
SCHEDULER_PATTERN='^[^ ]*/kube-scheduler '
COREDNS_PATTERN='^[^ ]*/coredns '
RELAY_PATTERN='scripts/k8s/relay.ts '

# The sysctls the kubelet, the bridge plugin and this script may change; down.sh writes back the
# values they had before the first k8s:up.
NODE_SYSCTLS="vm/overcommit_memory kernel/panic kernel/panic_on_oops net/ipv4/ip_forward
  net/bridge/bridge-nf-call-iptables net/bridge/bridge-nf-call-ip6tables net/ipv4/conf/all/route_localnet"

# Host folders the programs create at fixed paths whatever their configuration says: the kubelet's
# log links and device-plugin socket, containerd's shim sockets, the CNI result cache. down.sh removes
# those that did not exist before the first k8s:up (and only our links from /var/log/containers).
HOST_DIRS="/var/log/containers /var/lib/kubelet /run/containerd /var/lib/cni"

# ---- installing and building ------------------------------------------------------------------------

# install_node_packages: Debian's runc, CNI plugins, iptables and conntrack, once per machine.
install_node_packages() {
  local missing=()
  [ -x /usr/sbin/runc ] || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  [ ${#missing[@]} -eq 0 ] && return
  apt_install "${missing[@]}"
}

# apt_install PACKAGE...: installs Debian packages without starting their services (policy-rc.d).
apt_install() {
  log "installing $* (apt-get; once per machine)"
  as_root apt-get -o DPkg::Lock::Timeout=300 update -qq || die "apt-get update failed; install $* by hand"
  local policy=/usr/sbin/policy-rc.d ours_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod +x "$policy"
    ours_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" \
    >/dev/null || die "apt-get install $* failed"
  [ $ours_policy -eq 1 ] && as_root rm -f "$policy"
  return 0
}

# go_install DIR PACKAGE@VERSION [TAGS]: `go install` into DIR (a cache folder), once.
go_install() {
  local dir="$1" pkg="$2" tags="${3:-}" name start=$SECONDS
  name="$(basename "${pkg%@*}")"
  [ -x "$dir/$name" ] && return
  command -v go >/dev/null || die "go not found on PATH (needed once to build $name)"
  mkdir -p "$dir"
  log "building $name ${pkg#*@} (first run only; into $dir)"
  GOBIN="$dir" CGO_ENABLED=0 nice -n 15 go install -trimpath -ldflags "-s -w" ${tags:+-tags "$tags"} "$pkg" \
    || die "go install $pkg failed"
  log "built $name in $((SECONDS - start)) s"
}

build_node_binaries() {
  mkdir -p "$CACHE"
  exec 7>"$CACHE/.node-build.lock"
  flock 7
  local v="$CONTAINERD_VERSION" m=github.com/containerd/containerd/v2
  # The version ldflags make `containerd --version` (and the node's runtime version) say v2.4.2.
  if [ ! -x "$CONTAINERD_BIN/containerd" ]; then
    local start=$SECONDS
    log "building containerd $v, ctr and containerd-shim-runc-v2 (first run only, ~2 min; into $CONTAINERD_BIN)"
    mkdir -p "$CONTAINERD_BIN"
    GOBIN="$CONTAINERD_BIN" CGO_ENABLED=0 nice -n 15 go install -trimpath \
      -tags "no_btrfs no_devmapper no_zfs no_aufs" \
      -ldflags "-s -w -X $m/version.Version=$v -X $m/version.Revision=module" \
      "$m/cmd/containerd@$v" "$m/cmd/ctr@$v" "$m/cmd/containerd-shim-runc-v2@$v" \
      || die "go install of containerd $v failed"
    log "built containerd in $((SECONDS - start)) s"
  fi
  go_install "$CRICTL_BIN" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  if [ ! -x "$COREDNS_BIN/coredns" ]; then
    local start=$SECONDS
    log "building coredns $COREDNS_VERSION (first run only; into $COREDNS_BIN)"
    mkdir -p "$COREDNS_BIN"
    (cd "$k8s_here/coredns" && CGO_ENABLED=0 nice -n 15 go build -mod=readonly -trimpath -ldflags "-s -w" \
      -o "$COREDNS_BIN/coredns.tmp" .) || die "go build of coredns failed"
    mv -f "$COREDNS_BIN/coredns.tmp" "$COREDNS_BIN/coredns"
    log "built coredns in $((SECONDS - start)) s"
  fi
  exec 7>&-
}

# ---- host state: recorded before the first change, restored by down.sh -------------------------------

# record_host_state: the original sysctl values, once (a later k8s:up must not record our own values).
record_host_state() {
  mkdir -p "$node_dir"
  [ -f "$node_dir/sysctl.orig" ] && return
  local key
  for key in $NODE_SYSCTLS; do
    [ -r "/proc/sys/$key" ] && echo "$key $(cat "/proc/sys/$key")"
  done >"$node_dir/sysctl.orig.tmp"
  local d
  for d in $HOST_DIRS; do [ -e "$d" ] || echo "$d"; done >"$node_dir/created-dirs"
  mv "$node_dir/sysctl.orig.tmp" "$node_dir/sysctl.orig"
}

setsysctl() { [ "$(cat "/proc/sys/$1")" = "$2" ] || echo "$2" >"/proc/sys/$1"; }

# setup_network: the node address on lo, bridged traffic through iptables (so Service traffic between
# two pods on the bridge is translated back), forwarding for the bridge, and the egress filter.
setup_network() {
  ip addr show dev lo | grep " $NODE_IP/32 " >/dev/null || ip addr add "$NODE_IP/32" dev lo \
    || die "could not add $NODE_IP/32 to lo (root needed)"
  setsysctl net/bridge/bridge-nf-call-iptables 1
  setsysctl net/ipv4/ip_forward 1
  # The egress rule: forwarded packets from the pod range may go to the pod range, the service range
  # (before kube-proxy translates it) and the node address; everything else is dropped, so no pod
  # traffic leaves the machine even with ip_forward on.
  iptables -w -N "$EGRESS_CHAIN" 2>/dev/null || iptables -w -F "$EGRESS_CHAIN"
  iptables -w -A "$EGRESS_CHAIN" -d "$POD_CIDR" -j RETURN
  iptables -w -A "$EGRESS_CHAIN" -d "$SERVICE_CIDR" -j RETURN
  iptables -w -A "$EGRESS_CHAIN" -d "$NODE_IP/32" -j RETURN
  iptables -w -A "$EGRESS_CHAIN" -j DROP
  iptables -w -C FORWARD -s "$POD_CIDR" -j "$EGRESS_CHAIN" 2>/dev/null \
    || iptables -w -I FORWARD 1 -s "$POD_CIDR" -j "$EGRESS_CHAIN"
  # Pods resolve through the cluster DNS only; pods with dnsPolicy Default get the same server.
  printf 'nameserver %s\n' "$NODE_IP" >"$node_dir/resolv.conf"
}

# ---- the programs -----------------------------------------------------------------------------------

start_containerd() {
  mkdir -p "$ctrd_dir" "$cni_dir/conf" "$cni_dir/ipam"
  if ours "$ctrd_dir/containerd.pid" "$CONTAINERD_PATTERN"; then
    log "containerd already running (pid $(cat "$ctrd_dir/containerd.pid"))"
    return
  fi
  cat >"$cni_dir/conf/10-chat-k8s.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "chat-k8s",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "$cni_dir/ipam"}},
    {"type": "loopback"}
  ]
}
EOF
  # restrict_oom_score_adj: the sandbox cannot lower its oom_score_adj; without it every pod sandbox
  # fails with "can't get final child's PID from pipe: EOF". NRI is off (it would open a socket in /var/run).
  cat >"$ctrd_dir/config.toml" <<EOF
version = 3
root = "$ctrd_dir/root"
state = "$ctrd_dir/state"
disabled_plugins = ["io.containerd.nri.v1.nri"]
[grpc]
  address = "$ctrd_sock"
[ttrpc]
  address = "$ctrd_sock.ttrpc"
[debug]
  address = "$ctrd_dir/debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '$PAUSE_IMAGE'
[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = '/usr/sbin/runc'
        Root = '$ctrd_dir/state/runc'
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = '$cni_dir/conf'
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
[plugins.'io.containerd.internal.v1.opt']
  path = '$ctrd_dir/opt'
EOF
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 10\n' "$ctrd_sock" "$ctrd_sock" >"$ctrd_dir/crictl.yaml"
  log "starting containerd $CONTAINERD_VERSION (socket $ctrd_sock)"
  # Its own shim first on PATH, never Debian's containerd 1.6 shim.
  PATH="$CONTAINERD_BIN:$PATH" spawn "$ctrd_dir/containerd.pid" "$ctrd_dir/containerd.log" \
    "$CONTAINERD_BIN/containerd" --config "$ctrd_dir/config.toml" 9>&-
  local start=$SECONDS
  wait_ready containerd "$ctrd_dir/containerd.pid" "$CONTAINERD_PATTERN" "$ctrd_dir/containerd.log" \
    crictl_ info
  log "containerd ready after $((SECONDS - start)) s"
}

# crictl_ ARG...: crictl against our containerd.
crictl_() { "$CRICTL_BIN/crictl" --config "$ctrd_dir/crictl.yaml" --runtime-endpoint "unix://$ctrd_sock" --image-endpoint "unix://$ctrd_sock" --timeout 10s "$@"; }
# ctr_ ARG...: ctr against our containerd, in the namespace the CRI uses.
# (Its warning that cgroup v1 support is deprecated is said once in containerd.log, not on every call.)
ctr_() { "$CONTAINERD_BIN/ctr" --address "$ctrd_sock" -n k8s.io "$@" 2> >(grep -v 'DEPRECATION: The support for cgroup v1' >&2); }

# component_kubeconfig NAME: a kubeconfig for a node component (its token is in system:masters).
component_kubeconfig() {
  write_kubeconfig "$k8s_dir/$1.kubeconfig" "$(cat "$k8s_dir/apiserver/port")" "$pki/ca.crt" \
    "$(token_of "$tokens" "system:$1")" "system:$1"
  echo "$k8s_dir/$1.kubeconfig"
}

start_scheduler() {
  local dir="$k8s_dir/scheduler" port kubeconfig
  mkdir -p "$dir"
  if ours "$dir/scheduler.pid" "$SCHEDULER_PATTERN"; then
    log "kube-scheduler already running (pid $(cat "$dir/scheduler.pid"))"
    return
  fi
  kubeconfig="$(component_kubeconfig kube-scheduler)"
  port="$(free_port "$SCHEDULER_PORT_DEFAULT")"
  log "starting kube-scheduler (health on 127.0.0.1:$port)"
  spawn "$dir/scheduler.pid" "$dir/scheduler.log" "$K8S_BIN/kube-scheduler" \
    --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$port" --leader-elect=false 9>&-
  local start=$SECONDS
  wait_ready kube-scheduler "$dir/scheduler.pid" "$SCHEDULER_PATTERN" "$dir/scheduler.log" \
    https_ok "https://127.0.0.1:$port/healthz" --insecure
  log "kube-scheduler ready after $((SECONDS - start)) s"
}

start_kubelet() {
  local kubeconfig
  mkdir -p "$kubelet_dir/root" "$kubelet_dir/pod-logs" "$kubelet_dir/volume-plugins"
  if ours "$kubelet_dir/kubelet.pid" "$KUBELET_PATTERN"; then
    log "kubelet already running (pid $(cat "$kubelet_dir/kubelet.pid"))"
    return
  fi
  kubeconfig="$(component_kubeconfig kubelet)"
  # The API server calls the kubelet (logs, exec) with a client certificate of our CA in
  # system:masters; anonymous calls are refused, so a pod cannot exec into another through :10250.
  cat >"$kubelet_dir/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$ctrd_sock
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $pki/ca.crt
authorization:
  mode: Webhook
failSwapOn: false
rotateCertificates: false
serverTLSBootstrap: false
registerNode: true
clusterDomain: cluster.local
clusterDNS:
  - $DNS_IP
resolvConf: $node_dir/resolv.conf
podLogsDir: $kubelet_dir/pod-logs
volumePluginDir: $kubelet_dir/volume-plugins
podCIDR: $POD_CIDR
maxPods: 100
# No registry to pull from again: never collect images.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
EOF
  log "starting kubelet $K8S_VERSION (node $NODE_NAME at $NODE_IP)"
  spawn "$kubelet_dir/kubelet.pid" "$kubelet_dir/kubelet.log" "$K8S_BIN/kubelet" \
    --config="$kubelet_dir/config.yaml" --kubeconfig="$kubeconfig" --root-dir="$kubelet_dir/root" \
    --cert-dir="$kubelet_dir/pki" \
    --node-ip="$NODE_IP" --hostname-override="$NODE_NAME" 9>&-
  local start=$SECONDS
  wait_ready kubelet "$kubelet_dir/kubelet.pid" "$KUBELET_PATTERN" "$kubelet_dir/kubelet.log" node_ready "$(($(date +%s) - 1))"
  log "kubelet ready after $((SECONDS - start)) s (node $NODE_NAME is Ready)"
}

# node_ready SINCE: true when the kubelet's health endpoint answers and the Node object's Ready
# condition is True with a heartbeat from SINCE (epoch seconds) on: etcd keeps the condition of the
# previous run, which must not count.
node_ready() {
  local beat
  curl -sf --max-time 5 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" >/dev/null || return 1
  beat="$(kube_get "/api/v1/nodes/$NODE_NAME" | tr -d ' \n' \
    | sed -n 's/.*{"type":"Ready","status":"True","lastHeartbeatTime":"\([^"]*\)".*/\1/p')"
  [ -n "$beat" ] && [ "$(date -d "$beat" +%s)" -ge "$1" ]
}

start_proxy() {
  local dir="$k8s_dir/proxy" kubeconfig port
  mkdir -p "$dir"
  if ours "$dir/proxy.pid" "$PROXY_PATTERN"; then
    log "kube-proxy already running (pid $(cat "$dir/proxy.pid"))"
    return
  fi
  kubeconfig="$(component_kubeconfig kube-proxy)"
  port="$(free_port "$PROXY_HEALTHZ_PORT_DEFAULT")"
  # conntrack settings 0: leave the host's conntrack sysctls alone. NodePorts only on the node address,
  # never on localhost (that would switch route_localnet on for every interface).
  cat >"$dir/config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $kubeconfig
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:$port
metricsBindAddress: 127.0.0.1:$((port + 1))
nodePortAddresses:
  - $NODE_IP/32
iptables:
  localhostNodePorts: false
  masqueradeAll: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
  udpTimeout: 0s
  udpStreamTimeout: 0s
EOF
  log "starting kube-proxy (iptables mode, health on 127.0.0.1:$port)"
  spawn "$dir/proxy.pid" "$dir/proxy.log" "$K8S_BIN/kube-proxy" --config="$dir/config.yaml" 9>&-
  local start=$SECONDS
  wait_ready kube-proxy "$dir/proxy.pid" "$PROXY_PATTERN" "$dir/proxy.log" \
    curl -sf --max-time 5 "http://127.0.0.1:$port/healthz"
  log "kube-proxy ready after $((SECONDS - start)) s"
}

start_coredns() {
  local dir="$k8s_dir/coredns" kubeconfig port
  mkdir -p "$dir"
  if ours "$dir/coredns.pid" "$COREDNS_PATTERN"; then
    log "coredns already running (pid $(cat "$dir/coredns.pid"))"
    return
  fi
  kubeconfig="$(component_kubeconfig coredns)"
  port="$(free_port "$COREDNS_HEALTH_PORT_DEFAULT")"
  # Only cluster.local is answered; nothing is forwarded (no query leaves the machine), so any other
  # name gets NXDOMAIN at once instead of a timeout.
  cat >"$dir/Corefile" <<EOF
cluster.local:53 {
  bind $NODE_IP
  errors
  ready 127.0.0.1:$((port + 1))
  health 127.0.0.1:$port
  cache 5
  kubernetes cluster.local {
    kubeconfig $kubeconfig chat-k8s
    pods insecure
  }
}
.:53 {
  bind $NODE_IP
  errors
  template ANY ANY {
    rcode NXDOMAIN
  }
}
EOF
  log "starting coredns $COREDNS_VERSION on $NODE_IP:53 (cluster.local only)"
  spawn "$dir/coredns.pid" "$dir/coredns.log" "$COREDNS_BIN/coredns" -conf "$dir/Corefile" 9>&-
  echo "$((port + 1))" >"$dir/ready-port"
  local start=$SECONDS
  wait_ready coredns "$dir/coredns.pid" "$COREDNS_PATTERN" "$dir/coredns.log" \
    curl -sf --max-time 5 "http://127.0.0.1:$((port + 1))/ready"
  log "coredns ready after $((SECONDS - start)) s"
}

# start_relay: TCP relays on the node address to servers that listen on loopback only: the API server
# (the `kubernetes` Service's endpoint is $NODE_IP:$K8S_PORT), the backends of services:up under
# their usual ports (4222, 6379, 9042), and those of `services:up -- --secure` under theirs, which
# scripts/k8s/backends.sh publishes as Services. A relay started with other mappings is replaced.
start_relay() {
  local dir="$k8s_dir/relay" node="$root/node_modules/.bin/node"
  local mappings=("$NODE_IP:$K8S_PORT=127.0.0.1:$K8S_PORT" "$NODE_IP:4222=127.0.0.1:$NATS_PORT"
    "$NODE_IP:6379=127.0.0.1:$REDIS_PORT" "$NODE_IP:9042=127.0.0.1:$CQL_PORT"
    "$NODE_IP:$SEC_NATS_PORT=127.0.0.1:$SEC_NATS_PORT" "$NODE_IP:$SEC_REDIS_PORT=127.0.0.1:$SEC_REDIS_PORT"
    "$NODE_IP:$SEC_CQL_PORT=$SEC_CASSANDRA_HOST:$SEC_CQL_PORT")
  mkdir -p "$dir"
  if ours "$dir/relay.pid" "$RELAY_PATTERN"; then
    if [ "$(tr '\0' ' ' <"/proc/$(cat "$dir/relay.pid")/cmdline")" = "$node $k8s_here/relay.ts ${mappings[*]} " ]; then
      log "relay already running (pid $(cat "$dir/relay.pid"))"
      return
    fi
    stop_service relay "$dir/relay.pid" "$RELAY_PATTERN"
  fi
  [ -x "$node" ] || die "$node is missing: run npm install first"
  log "starting the relay: ${mappings[*]}"
  spawn "$dir/relay.pid" "$dir/relay.log" "$node" "$k8s_here/relay.ts" "${mappings[@]}" 9>&-
  wait_ready relay "$dir/relay.pid" "$RELAY_PATTERN" "$dir/relay.log" grep -q '^relay: ready' "$dir/relay.log"
}

# ---- objects in the API server ------------------------------------------------------------------------

# kube_get PATH: GET an API path as admin (JSON on stdout).
kube_get() {
  curl -sf --max-time 10 --cacert "$pki/ca.crt" -H "Authorization: Bearer $(token_of "$tokens" admin)" \
    "https://127.0.0.1:$K8S_PORT$1"
}

# kube_apply PATH: server-side apply of the YAML object on stdin to the API path PATH.
kube_apply() {
  local out
  out="$(curl -sS --max-time 20 --cacert "$pki/ca.crt" -H "Authorization: Bearer $(token_of "$tokens" admin)" \
    -X PATCH -H 'Content-Type: application/apply-patch+yaml' --data-binary @- -w '\n%{http_code}' \
    "https://127.0.0.1:$K8S_PORT$1?fieldManager=chat-k8s-scripts&force=true")" || die "apply of $1 failed: $out"
  [[ "${out##*$'\n'}" == 20? ]] || die "apply of $1 failed: $out"
}

# apply_dns_service: the kube-dns Service pods resolve through ($DNS_IP), its endpoint the CoreDNS host process.
apply_dns_service() {
  kube_apply /api/v1/namespaces/kube-system/services/kube-dns <<EOF
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: $DNS_IP
  ports:
    - {name: dns, port: 53, protocol: UDP, targetPort: 53}
    - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
EOF
  kube_apply /apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices/kube-dns-node <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: chat-k8s-scripts}
addressType: IPv4
endpoints:
  - addresses: ["$NODE_IP"]
    conditions: {ready: true}
ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
EOF
}

# import_pause_image: the pod sandbox image, built here once (no registry to pull it from): the static
# binary of pause/pause.c in an OCI image layout written by hand, imported into containerd.
import_pause_image() {
  ctr_ images ls -q "name==$PAUSE_IMAGE" 2>/dev/null | grep -x "$PAUSE_IMAGE" >/dev/null && return
  local d="$CACHE/pause/$(sha256sum "$k8s_here/pause/pause.c" | cut -c1-12)"
  [ -f "$d/pause.tar" ] || build_pause_image "$d"
  ctr_ images import "$d/pause.tar" >/dev/null || die "ctr could not import $d/pause.tar"
  log "imported $PAUSE_IMAGE"
}

# blob DIR FILE: moves FILE into the layout's blobs under its digest; prints "sha256:<hex> <size>".
blob() {
  local sum size
  sum="$(sha256sum "$2" | cut -d' ' -f1)"
  size="$(stat -c %s "$2")"
  mv "$2" "$1/blobs/sha256/$sum"
  echo "sha256:$sum $size"
}

build_pause_image() {
  local d="$1" t layer config manifest
  command -v gcc >/dev/null || apt_install gcc libc6-dev
  log "building the pause image $PAUSE_IMAGE (once; into $d)"
  t="$(mktemp -d)"
  mkdir -p "$t/root" "$t/oci/blobs/sha256"
  gcc -static -Os -s -o "$t/root/pause" "$k8s_here/pause/pause.c" || die "gcc could not build pause"
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$t/root" -cf "$t/layer.tar" pause
  layer="$(blob "$t/oci" "$t/layer.tar")"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "${layer% *}" >"$t/config.json"
  config="$(blob "$t/oci" "$t/config.json")"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
    "${config% *}" "${config#* }" "${layer% *}" "${layer#* }" >"$t/manifest.json"
  manifest="$(blob "$t/oci" "$t/manifest.json")"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "${manifest% *}" "${manifest#* }" "$PAUSE_IMAGE" "${PAUSE_IMAGE##*:}" >"$t/oci/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$t/oci/oci-layout"
  mkdir -p "$d"
  tar -C "$t/oci" -cf "$d/pause.tar.tmp" . && mv "$d/pause.tar.tmp" "$d/pause.tar"
  rm -rf "$t"
}

# ---- stopping and undoing -------------------------------------------------------------------------------

# remove_pods: every pod sandbox and container through the CRI (stops them, runs CNI DEL so veths and
# addresses are released), while containerd still runs.
remove_pods() {
  ours "$ctrd_dir/containerd.pid" "$CONTAINERD_PATTERN" || return 0
  local n
  n="$(crictl_ pods -q 2>/dev/null | wc -l)"
  if [ "$n" -gt 0 ]; then
    log "removing $n pod sandboxes (crictl rmp)"
    crictl_ stopp $(crictl_ pods -q) >/dev/null 2>&1 || true
    crictl_ rmp -f $(crictl_ pods -q) >/dev/null 2>&1 || true
  fi
  # Anything the CRI did not remove (containers of a previous, crashed run).
  local id
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  sleep 0.5
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1 || true; done
}

# kill_leftover_shims: shims of our containerd whose containers are gone keep running otherwise.
kill_leftover_shims() {
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $ctrd_sock" 2>/dev/null); do
    kill -TERM "$pid" 2>/dev/null || true
  done
}

# unmount_all_under DIR: every mount below DIR, deepest first.
unmount_all_under() {
  local m
  awk -v d="$1/" 'index($5, d) == 1 || $5 == substr(d, 1, length(d) - 1) { print $5 }' /proc/self/mountinfo \
    | sort -r | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
}

# remove_iptables_chains: the chains of kube-proxy, the kubelet, CNI plugins and our egress filter, in
# every table, IPv4 and IPv6: first the jumps to them from the built-in chains, then the chains.
remove_iptables_chains() {
  local cmd table rule chain
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle raw; do
      { "$cmd-save" -t "$table" 2>/dev/null || true; } | { grep -E "^-A [A-Z]+ .*-j (KUBE-|CNI-|$EGRESS_CHAIN)" || true; } \
        | sed 's/^-A /-D /' | while read -r rule; do
          eval "$cmd -w -t $table $rule" 2>/dev/null || true
        done
      for chain in $("$cmd-save" -t "$table" 2>/dev/null | awk -v e="$EGRESS_CHAIN" '/^:/ { c = substr($1, 2); if (c ~ /^(KUBE-|CNI-)/ || c == e) print c }'); do
        "$cmd" -w -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$cmd-save" -t "$table" 2>/dev/null | awk -v e="$EGRESS_CHAIN" '/^:/ { c = substr($1, 2); if (c ~ /^(KUBE-|CNI-)/ || c == e) print c }'); do
        "$cmd" -w -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# remove_kubepods_cgroups: the kubelet's cgroup tree under every v1 hierarchy (and v2, if unified).
remove_kubepods_cgroups() {
  local base
  for base in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$base" ] || continue
    find "$base" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

# restore_host_state: the sysctls as recorded, the node address, the bridge, /var/log/containers.
restore_host_state() {
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE" 2>/dev/null
  ip addr show dev lo | grep " $NODE_IP/32 " >/dev/null && ip addr del "$NODE_IP/32" dev lo 2>/dev/null
  if [ -f "$node_dir/sysctl.orig" ]; then
    local key value
    while read -r key value; do
      [ -w "/proc/sys/$key" ] && setsysctl "$key" "$value" 2>/dev/null
    done <"$node_dir/sysctl.orig"
    rm -f "$node_dir/sysctl.orig"
  fi
  local link d
  for link in /var/log/containers/*.log; do
    [ -L "$link" ] && [[ "$(readlink "$link")" == "$kubelet_dir/"* ]] && rm -f "$link"
  done
  if [ -f "$node_dir/created-dirs" ]; then
    while read -r d; do
      case "$d" in
      /var/log/containers) rmdir "$d" 2>/dev/null || true ;;
      /var/lib/kubelet | /run/containerd | /var/lib/cni) rm -rf "$d" ;;
      esac
    done <"$node_dir/created-dirs"
    rm -f "$node_dir/created-dirs"
  fi
  rm -rf "$cni_dir/ipam"
  return 0
}
