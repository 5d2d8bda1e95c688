#!/usr/bin/env bash
# npm run k8s:down — stops what k8s:up started, by its pid files, controllers first and etcd last.
# The data (etcd, certificates, tokens) stays in .services/k8s/, so the next k8s:up starts with the same
# objects and the same CA; .services/kubeconfig is removed so that nothing talks to a stopped server.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/../services/common.sh"
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

stop_service kube-controller-manager "$k8s_dir/controller-manager/kcm.pid" "$KCM_PATTERN"
stop_service kube-apiserver "$k8s_dir/apiserver/apiserver.pid" "$APISERVER_PATTERN"
stop_service etcd "$k8s_dir/etcd/etcd.pid" "$ETCD_PATTERN"
rm -f "$svc/kubeconfig"
exit 0
