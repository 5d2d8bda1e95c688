#!/usr/bin/env bash
# npm run images [-- --tag TAG] [--no-load] [--out DIR] — builds the chat-node and operator images from
# the repository's Dockerfile without a Docker engine (Debian's buildah), and imports them into the
# containerd of `npm run k8s:up`:
#   docker.io/chat-platform/chat-node:TAG      (crds/samples: image chat-platform/chat-node:0.1.0)
#   docker.io/chat-platform/chat-operator:TAG  (charts/chat-operator: image.repository, appVersion)
# TAG defaults to package.json's version. No image registry is reachable, so the Dockerfile's base
# (ARG NODE_IMAGE, node:24-slim for everyone else) is built here once: a minimal Debian root file
# system made by mmdebstrap from this machine's own apt sources, plus the Node 24 binary of the npm
# `node` package (node_modules/.bin/node) and npm. It is kept in buildah's store under
# ${XDG_CACHE_HOME:-~/.cache}/chat-platform/images/, so later runs only rebuild what changed.
#   --no-load   build only (no containerd needed); --out DIR also writes docker archives there
#               (DIR/chat-node-TAG.tar, DIR/chat-operator-TAG.tar: `kind load image-archive`, `ctr import`).
set -euo pipefail
exec >&2
. "$(cd "$(dirname "$0")" && pwd)/../services/common.sh"
. "$root/scripts/k8s/lib.sh"
. "$root/scripts/k8s/node.sh"
log() { echo "[images] $*"; }

tag="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$root/package.json" | sed -n 1p)"
load=1 out=""
while [ $# -gt 0 ]; do
  case "$1" in
  --tag) tag="${2:?--tag needs a value}" && shift 2 ;;
  --tag=*) tag="${1#--tag=}" && shift ;;
  --no-load) load=0 && shift ;;
  --out) out="${2:?--out needs a directory}" && shift 2 ;;
  -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' && exit 0 ;;
  *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "not an image tag: $tag"
[ "$(id -u)" -eq 0 ] || die "buildah runs as root here (its store is in $CACHE/images)"
if [ $load -eq 1 ] && ! ours "$ctrd_dir/containerd.pid" "$CONTAINERD_PATTERN"; then
  die "the k8s:up node's containerd is not running: run npm run k8s:up first, or pass --no-load"
fi

command -v buildah >/dev/null && command -v mmdebstrap >/dev/null || apt_install buildah mmdebstrap

store="$CACHE/images"
mkdir -p "$store"
exec 6>"$store/.lock"
flock 6
# buildah's state dir belongs on a tmpfs-like place that does not outlive a boot: one per run.
runroot="$(mktemp -d)"
work="$(mktemp -d)"
trap 'buildah_ rm --all >/dev/null 2>&1 || true; rm -rf "$runroot" "$work"' EXIT
# Builds use the host network; buildah would still create its network config in /etc/cni: keep it here.
mkdir -p "$store/cni"
printf '[network]\nnetwork_config_dir = "%s"\n' "$store/cni" >"$store/containers.conf"
export CONTAINERS_CONF="$store/containers.conf"
buildah_() { buildah --root "$store/storage" --runroot "$runroot" --storage-driver overlay "$@"; }

node_bin="$(readlink -f "$root/node_modules/.bin/node")"
[ -x "$node_bin" ] || die "node_modules/.bin/node is missing: run npm install first"
node_version="$("$node_bin" -v)"
npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
[ -f "$npm_dir/package.json" ] || die "npm's own folder not found (from $(command -v npm))"
npm_version="$("$node_bin" -p "require('$npm_dir/package.json').version")"
suite="$(. /etc/os-release && echo "$VERSION_CODENAME")"
# The base's name says what is in it; a change of Node, npm, the suite or this recipe makes a new one.
recipe="$(sed -n '/^build_base() {/,/^}/p' "$0" | sha256sum | cut -c1-8)"
base="localhost/chat-platform/node-base:${node_version#v}-npm$npm_version-$suite-$recipe"

build_base() {
  local sources=() f cafile hooks=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -q '^[^#[:space:]]' "$f" && sources+=("$f")
  done
  [ ${#sources[@]} -gt 0 ] || die "no apt sources on this machine (/etc/apt/sources.list*)"
  # The machine's npm may trust a local CA for the registry (npm's cafile): the base trusts the same,
  # or the Dockerfile's `npm ci` could not fetch anything here.
  cafile="$(npm config get cafile 2>/dev/null || true)"
  if [ -n "$cafile" ] && [ "$cafile" != null ] && [ "$cafile" != undefined ] && [ -f "$cafile" ]; then
    hooks+=(--customize-hook="mkdir -p \"\$1$(dirname "$cafile")\" \"\$1/usr/local/etc\" && cp $cafile \"\$1$cafile\"")
    hooks+=(--customize-hook="echo cafile=$cafile >\"\$1/usr/local/etc/npmrc\"")
  fi
  log "building the base image $base (once): Debian $suite (mmdebstrap, this machine's apt sources) + Node $node_version + npm $npm_version"
  # essential: the Essential: yes packages (a shell for the Dockerfile's RUN), plus Node's C++ runtime.
  # No documentation, man pages or locales; apt's lists and caches are not kept.
  mmdebstrap --quiet --variant=essential --include=libstdc++6 \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="copy-in $node_bin /usr/local/bin" \
    --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules\"" \
    --customize-hook="copy-in $npm_dir /usr/local/lib/node_modules" \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"' \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
    --customize-hook='echo "node:x:1000:1000::/home/node:/bin/sh" >>"$1/etc/passwd"' \
    --customize-hook='echo "node:x:1000:" >>"$1/etc/group"' \
    --customize-hook='mkdir -p "$1/home/node" && chown 1000:1000 "$1/home/node"' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
    "${hooks[@]}" \
    "$suite" "$work/rootfs.tar" "${sources[@]}" || die "mmdebstrap failed"
  local c
  c="$(buildah_ from scratch)"
  buildah_ add "$c" "$work/rootfs.tar" / >/dev/null
  buildah_ config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="${node_version#v}" --cmd node --os linux --arch amd64 "$c"
  buildah_ commit --rm --quiet "$c" "$base" >/dev/null
  rm -f "$work/rootfs.tar"
}

start=$SECONDS
if buildah_ inspect --type image "$base" >/dev/null 2>&1; then
  log "base image $base is cached"
else
  build_base
  log "base image built in $((SECONDS - start)) s"
  # Bases of other Node/npm versions or recipes are not used any more.
  buildah_ images --format '{{.Name}}:{{.Tag}}' | grep '/chat-platform/node-base:' | grep -vxF "$base" \
    | xargs -r buildah --root "$store/storage" --runroot "$runroot" --storage-driver overlay rmi >/dev/null 2>&1 || true
fi

for target in chat-node operator; do
  name="chat-platform/$target"
  [ "$target" = operator ] && name=chat-platform/chat-operator
  t0=$SECONDS
  log "building $name:$tag (Dockerfile target $target)"
  # --network host: the deps stage's `npm ci` fetches the production dependencies.
  buildah_ build --quiet --layers --pull=never --network host --build-arg "NODE_IMAGE=$base" \
    --target "$target" -t "$name:$tag" -f "$root/Dockerfile" "$root" >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log" >&2; die "buildah build of $name:$tag failed"; }
  size="$(buildah_ images --format '{{.Size}}' "localhost/$name:$tag" | sed -n 1p)"
  log "built $name:$tag in $((SECONDS - t0)) s ($size)"
  archive="$work/$target-$tag.tar"
  [ -n "$out" ] && mkdir -p "$out" && archive="$out/${name#chat-platform/}-$tag.tar"
  if [ $load -eq 1 ] || [ -n "$out" ]; then
    rm -f "$archive"
    buildah_ push --quiet "localhost/$name:$tag" "docker-archive:$archive:docker.io/$name:$tag" >/dev/null \
      || die "buildah push of $name:$tag failed"
  fi
  if [ $load -eq 1 ]; then
    ctr_ images import "$archive" >/dev/null || die "ctr could not import $archive"
    log "imported docker.io/$name:$tag into the node's containerd"
  fi
  [ -z "$out" ] && rm -f "$archive"
done
log "images ready in $((SECONDS - start)) s"
