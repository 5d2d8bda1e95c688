#!/usr/bin/env bash
# npm run k8s:down — stops what k8s:up started, by its pid files, and undoes what it changed on the
# host: the kubelet first (so it starts nothing new), then every pod through the CRI (stops its
# containers, releases its address), containerd, kube-proxy, CoreDNS, the relay, the control plane,
# etcd last; then the mounts under .services/k8s, the iptables chains of kube-proxy, the kubelet, CNI
# and the egress filter, the `kubepods` cgroups, the bridge, the node address on lo, and the sysctls
# as they were before the first k8s:up.
# The data (etcd, certificates, tokens, images in containerd's store) stays in .services/k8s/, so the
# next k8s:up starts with the same objects and the same CA; .services/kubeconfig is removed so that
# nothing talks to a stopped server.
set -euo pipefail
exec >&2
. "$(cd "$(dirname "$0")" && pwd)/../services/common.sh"
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
. "$(cd "$(dirname "$0")" && pwd)/node.sh"

[ "$(id -u)" -eq 0 ] || die "k8s:down undoes changes to the host's network and cgroups: run it as root"
mkdir -p "$k8s_dir"
exec 9>"$k8s_dir/up.lock"
flock 9

stop_service kubelet "$kubelet_dir/kubelet.pid" "$KUBELET_PATTERN"
remove_pods
stop_service containerd "$ctrd_dir/containerd.pid" "$CONTAINERD_PATTERN"
kill_leftover_shims
stop_service kube-proxy "$k8s_dir/proxy/proxy.pid" "$PROXY_PATTERN"
stop_service coredns "$k8s_dir/coredns/coredns.pid" "$COREDNS_PATTERN"
stop_service relay "$k8s_dir/relay/relay.pid" "$RELAY_PATTERN"
stop_service kube-scheduler "$k8s_dir/scheduler/scheduler.pid" "$SCHEDULER_PATTERN"
stop_service kube-controller-manager "$k8s_dir/controller-manager/kcm.pid" "$KCM_PATTERN"
stop_service kube-apiserver "$k8s_dir/apiserver/apiserver.pid" "$APISERVER_PATTERN"
stop_service etcd "$k8s_dir/etcd/etcd.pid" "$ETCD_PATTERN"
rm -f "$svc/kubeconfig"

unmount_all_under "$k8s_dir"
remove_iptables_chains
remove_kubepods_cgroups
restore_host_state
log "host state restored (mounts, iptables chains, kubepods cgroups, bridge $BRIDGE, $NODE_IP on lo, sysctls)"
exit 0
