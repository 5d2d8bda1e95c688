#!/usr/bin/env bash
# scripts/k8s/prometheus-crds.sh — prints the paths of prometheus-operator's PodMonitor and
# ServiceMonitor CRDs (monitoring.coreos.com/v1), one a line, downloading them once if needed:
#   go mod download github.com/prometheus-operator/prometheus-operator@$VERSION
#   into ${XDG_CACHE_HOME:-~/.cache}/chat-platform/prometheus-operator/gomod (a module cache of its own)
# The module's zip holds the CRDs (example/prometheus-operator-crd/); nothing of it enters the repository.
# Tests apply them to the API server before installing the chart with monitors; by hand:
#   kubectl apply --server-side $(bash scripts/k8s/prometheus-crds.sh | sed 's/^/-f /')
# Progress and errors go to stderr, the paths (only) to stdout.
#
# Settings (environment):
#   CHAT_PROMETHEUS_OPERATOR_VERSION  the release (default below; `go list -m -versions
#                                     github.com/prometheus-operator/prometheus-operator` lists them)
set -euo pipefail

VERSION="${CHAT_PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
MODULE=github.com/prometheus-operator/prometheus-operator
cache="${XDG_CACHE_HOME:-$HOME/.cache}/chat-platform/prometheus-operator/gomod"
files=(monitoring.coreos.com_podmonitors.yaml monitoring.coreos.com_servicemonitors.yaml)

die() {
  echo "[prometheus-crds] error: $*" >&2
  exit 1
}

command -v go >/dev/null || die "go not found on PATH (needed once to download $MODULE@$VERSION into $cache)"
mkdir -p "$cache"
# Outside any module (the repository has no go.mod; a caller's directory might), and -mod=mod so
# that no vendor directory is consulted.
cd "$cache"
info="$(GOMODCACHE="$cache" GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" 2>&1)" || true
dir="$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
  die "go mod download $MODULE@$VERSION failed (is the Go module proxy reachable, and is $VERSION a release? go list -m -versions $MODULE lists them): $info"
fi
for f in "${files[@]}"; do
  path="$dir/example/prometheus-operator-crd/$f"
  [ -f "$path" ] || die "$MODULE@$VERSION has no example/prometheus-operator-crd/$f (the layout of that release differs; set CHAT_PROMETHEUS_OPERATOR_VERSION to one that has it)"
  echo "$path"
done
