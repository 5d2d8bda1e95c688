# Shared by scripts/k8s/up.sh and down.sh, sourced after scripts/services/common.sh (whose log, die,
# spawn, ours, wait_ready, stop_service and listening it uses): settings and the helpers common.sh lacks.

k8s_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
k8s_dir="$svc/k8s"

# The Kubernetes release is pinned in one place: the wrapper module's go.mod.
K8S_VERSION="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$k8s_here/build/go.mod")"
[ -n "$K8S_VERSION" ] || die "no k8s.io/kubernetes requirement in $k8s_here/build/go.mod"
K8S_BIN="${XDG_CACHE_HOME:-$HOME/.cache}/chat-platform/k8s/$K8S_VERSION"

K8S_PORT="${CHAT_K8S_PORT:-16443}"
ETCD_PORT_DEFAULT="${CHAT_K8S_ETCD_PORT:-12379}"
KCM_PORT_DEFAULT="${CHAT_K8S_CONTROLLER_PORT:-16257}"
SCHEDULER_PORT_DEFAULT="${CHAT_K8S_SCHEDULER_PORT:-16259}"
PROXY_HEALTHZ_PORT_DEFAULT="${CHAT_K8S_PROXY_PORT:-16256}" # and the next one for its metrics
COREDNS_HEALTH_PORT_DEFAULT="${CHAT_K8S_COREDNS_PORT:-16280}" # and the next one for /ready
KUBELET_HEALTHZ_PORT="${CHAT_K8S_KUBELET_HEALTHZ_PORT:-10248}"
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1 # the first address of the range: the `kubernetes` Service in `default`
DNS_IP=10.96.0.10    # the kube-dns Service (CoreDNS)
# The node: its address is a /32 on lo (the kubelet refuses 127/8), its pods on a CNI bridge.
NODE_IP="${CHAT_K8S_NODE_IP:-10.250.0.1}"
NODE_NAME=chat-k8s-node
POD_CIDR="${CHAT_K8S_POD_CIDR:-10.244.0.0/24}"
BRIDGE=chatk8s0
EGRESS_CHAIN=CHAT-K8S-EGRESS
PAUSE_IMAGE=localhost/chat-platform/pause:1

# The first word of each process's command line (see ours()); "etcd" alone would also match
# kube-apiserver's --etcd-servers flag.
ETCD_PATTERN='^[^ ]*/etcd '
APISERVER_PATTERN='^[^ ]*/kube-apiserver '
KCM_PATTERN='^[^ ]*/kube-controller-manager '

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

# free_port PREFERRED: prints PREFERRED, or the first port above it that nothing listens on.
free_port() {
  local port="$1"
  while listening "$port"; do
    port=$((port + 1))
    [ "$port" -lt $(($1 + 100)) ] || die "no free port in $1..$port"
  done
  echo "$port"
}

# The programs built from the wrapper module (scripts/k8s/build/go.mod's tool block).
K8S_COMMANDS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"

# build_binaries [COMMAND...]: builds the Kubernetes programs (default: all of K8S_COMMANDS) into
# $K8S_BIN once. The folder is outside the repository, so every clone and worktree on the machine
# shares it; a lock keeps two concurrent first runs from building twice.
build_binaries() {
  local cmd missing=()
  # shellcheck disable=SC2086 # a word list
  for cmd in ${*:-$K8S_COMMANDS}; do
    [ -x "$K8S_BIN/$cmd" ] || missing+=("$cmd")
  done
  [ ${#missing[@]} -eq 0 ] && return
  command -v go >/dev/null || die "go not found on PATH (needed once to build ${missing[*]})"
  mkdir -p "$K8S_BIN"
  exec 8>"$K8S_BIN/.build.lock"
  flock 8
  local minor="${K8S_VERSION#v1.}" flags=() pkg
  minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=("-X $pkg.gitVersion=$K8S_VERSION" "-X $pkg.gitMajor=1" "-X $pkg.gitMinor=$minor"
      "-X $pkg.gitTreeState=clean" "-X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
  done
  for cmd in "${missing[@]}"; do
    [ -x "$K8S_BIN/$cmd" ] && continue # another run built it while we waited for the lock
    log "building $cmd $K8S_VERSION (first run only, 1-10 min each; into $K8S_BIN)"
    local start=$SECONDS
    (cd "$k8s_here/build" && nice -n 15 go build -mod=readonly -trimpath -ldflags "-s -w ${flags[*]}" \
      -o "$K8S_BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd") || die "go build of $cmd failed"
    mv -f "$K8S_BIN/$cmd.tmp" "$K8S_BIN/$cmd"
    log "built $cmd in $((SECONDS - start)) s"
  done
  exec 8>&-
}

# install_etcd: Debian's etcd-server, installed once per machine. Its package starts a system service
# on install; a policy-rc.d that answers 101 forbids that, we run our own on other ports.
install_etcd() {
  command -v etcd >/dev/null && return
  log "installing etcd-server (apt-get; once per machine)"
  as_root apt-get -o DPkg::Lock::Timeout=300 update -qq || die "apt-get update failed; install etcd-server by hand"
  local policy=/usr/sbin/policy-rc.d ours_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod +x "$policy"
    ours_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends etcd-server \
    >/dev/null || die "apt-get install etcd-server failed"
  [ $ours_policy -eq 1 ] && as_root rm -f "$policy"
  command -v etcd >/dev/null || die "etcd-server installed, but no etcd on PATH"
}

# make_pki DIR: a CA, a serving certificate for the API server signed by it, and the key pair that
# signs and verifies service-account tokens. Made once; later runs keep them so kubeconfigs stay valid.
make_pki() {
  local d="$1"
  if [ -f "$d/apiserver.crt" ] && [ -f "$d/sa.pub" ]; then
    make_kubelet_client_cert "$d"
    # A CA made before the node existed: the serving certificate lacks the node address.
    grep -q "IP:$NODE_IP," "$d/apiserver.ext" 2>/dev/null || make_serving_cert "$d"
    return
  fi
  log "generating a CA, the API server certificate and the service-account keys (openssl)"
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=chat-platform-test-ca" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null || die "openssl could not create the CA"
  make_serving_cert "$d"
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null || die "openssl could not create the service-account key"
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null || die "openssl could not export sa.pub"
  make_kubelet_client_cert "$d"
  chmod 600 "$d"/*.key
}

# make_serving_cert DIR: the API server's serving certificate, for loopback, the node address and
# the `kubernetes` Service's names and address. An API server that runs is restarted by up.sh.
make_serving_cert() {
  local d="$1"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$d/apiserver.key" -out "$d/apiserver.csr" 2>/dev/null || die "openssl could not create a CSR"
  printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:$NODE_IP,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
    "extendedKeyUsage=serverAuth" "keyUsage=digitalSignature,keyEncipherment" >"$d/apiserver.ext"
  openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 3650 \
    -extfile "$d/apiserver.ext" -out "$d/apiserver.crt" 2>/dev/null || die "openssl could not sign the certificate"
  chmod 600 "$d/apiserver.key"
  pki_changed=1
}

# make_kubelet_client_cert DIR: the client certificate the API server presents to the kubelet (logs,
# exec), in system:masters so that the kubelet's webhook authorization allows it.
make_kubelet_client_cert() {
  local d="$1"
  [ -f "$d/kubelet-client.crt" ] && return
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    -keyout "$d/kubelet-client.key" -out "$d/kubelet-client.csr" 2>/dev/null || die "openssl could not create a CSR"
  printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=digitalSignature,keyEncipherment" >"$d/kubelet-client.ext"
  openssl x509 -req -in "$d/kubelet-client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 3650 \
    -extfile "$d/kubelet-client.ext" -out "$d/kubelet-client.crt" 2>/dev/null || die "openssl could not sign the kubelet client certificate"
  chmod 600 "$d/kubelet-client.key"
  pki_changed=1
}

# make_tokens FILE: the static token file: an admin and each component (controller manager, scheduler,
# kubelet, kube-proxy, CoreDNS), all in system:masters (a test cluster). Users missing from an older
# file are added (and pki_changed set: the API server reads the file at start only).
make_tokens() {
  local user added
  added="$(
    umask 077
    touch "$1"
    for user in admin system:kube-controller-manager system:kube-scheduler system:kubelet system:kube-proxy system:coredns; do
      [ -n "$(token_of "$1" "$user")" ] && continue
      printf '%s,%s,%s,"system:masters"\n' "$(openssl rand -hex 24)" "$user" "${user#system:}" >>"$1"
      echo "$user"
    done
  )"
  [ -z "$added" ] || pki_changed=1
}

# token_of FILE USER: the token of USER in a static token file.
token_of() { awk -F, -v u="$2" '$2 == u { print $1 }' "$1"; }

# write_kubeconfig FILE PORT CA TOKEN USER: a kubeconfig with one cluster, one user, one context.
write_kubeconfig() {
  local file="$1" port="$2" ca="$3" token="$4" user="$5"
  (
    umask 077
    cat >"$file.tmp" <<EOF
# Written by scripts/k8s/up.sh: the test Kubernetes API server on loopback.
apiVersion: v1
kind: Config
clusters:
  - name: chat-k8s
    cluster:
      server: https://127.0.0.1:$port
      certificate-authority-data: $(base64 -w0 <"$ca")
users:
  - name: $user
    user:
      token: $token
contexts:
  - name: chat-k8s
    context:
      cluster: chat-k8s
      user: $user
      namespace: default
current-context: chat-k8s
EOF
  )
  mv "$file.tmp" "$file"
}

# https_ok URL CURL_OPTION...: true when URL answers 200 with the body "ok".
https_ok() {
  local url="$1"
  shift
  [ "$(curl -sf --max-time 5 "$@" "$url")" = ok ]
}
