#!/usr/bin/env bash
# scripts/helm.sh — prints the path of a helm binary, building it once if needed:
#   go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION  into  ${XDG_CACHE_HOME:-~/.cache}/chat-platform/helm/<version>/
# The folder is outside the repository, so every clone and worktree on the machine shares it; a lock
# keeps two concurrent first runs (e.g. two test workers) from building twice. Progress goes to stderr,
# the path (only) to stdout, so callers can do: helm="$(bash scripts/helm.sh)".
#
# Settings (environment):
#   CHAT_HELM_VERSION  the helm release (default below: the newest v3 the Go module proxy served when
#                      this was written; `go list -m -versions helm.sh/helm/v3` lists them)
set -euo pipefail

HELM_VERSION="${CHAT_HELM_VERSION:-v3.22.0}"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/chat-platform/helm/$HELM_VERSION"
bin="$dir/helm"

log() { echo "[helm] $*" >&2; }
die() {
  echo "[helm] error: $*" >&2
  exit 1
}

if [ ! -x "$bin" ]; then
  command -v go >/dev/null || die "go not found on PATH (needed once to build helm $HELM_VERSION into $dir)"
  mkdir -p "$dir"
  exec 9>"$dir/.build.lock"
  flock 9
  if [ ! -x "$bin" ]; then # another run may have built it while we waited for the lock
    log "building helm $HELM_VERSION with go install (first run only, a few minutes; into $dir)"
    start=$SECONDS
    tmp="$dir/.gobin"
    rm -rf "$tmp"
    log "downloading the helm.sh/helm/v3@$HELM_VERSION module"
    info="$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" 2>&1)" || true
    gomod="$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
    [ -f "$gomod" ] || die "go mod download helm.sh/helm/v3@$HELM_VERSION failed (is the Go module proxy reachable, and is $HELM_VERSION a helm release?): $info"
    # As helm's Makefile does: the Kubernetes version helm assumes without a cluster (helm template,
    # lint) comes from its client-go version, v0.X.Y -> 1.X; without it, helm assumes v1.20.
    kube="$(awk '$1 == "k8s.io/client-go" { print $2 }' "$gomod")"
    kube_minor="$(echo "$kube" | cut -d. -f2)"
    [ -n "$kube_minor" ] || die "no k8s.io/client-go requirement in $gomod"
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
      ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$kube_minor"
    done
    # -v names each package as it is compiled: a line of progress every 100 packages.
    if ! GOBIN="$tmp" nice -n 15 go install -v -trimpath -ldflags "$ldflags" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" 2>&1 |
      awk -v start="$start" '
        /^go: downloading/ { if (!dl++) { print "[helm] downloading modules…"; fflush() } next }
        /^[a-zA-Z0-9_.\/-]+$/ { if (++n % 100 == 0) { print "[helm] compiled " n " packages"; fflush() } next }
        { print; fflush() }
      ' >&2; then
      die "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed (see above)"
    fi
    [ -x "$tmp/helm" ] || die "go install finished but left no helm in $tmp"
    "$tmp/helm" version --short >/dev/null || die "the helm just built does not run"
    mv -f "$tmp/helm" "$bin"
    rm -rf "$tmp"
    log "built helm $HELM_VERSION in $((SECONDS - start)) s: $bin"
  fi
  exec 9>&-
fi

echo "$bin"
