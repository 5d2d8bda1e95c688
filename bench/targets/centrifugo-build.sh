#!/usr/bin/env bash
# Builds the peer target of the benchmarks into a cache directory outside the repository, once per
# version, and prints "<app|lib> <binary>" as its last line.
#
# The Centrifugo application module (github.com/centrifugal/centrifugo/v6) is tried first; when the
# Go module proxy does not serve it (it answers 403 on our machines), the peer is
# bench/targets/centrifuge-peer: a Centrifugo-style server on github.com/centrifugal/centrifuge, the
# library Centrifugo is built on. Nothing of Centrifugo's is kept in the repository.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LIB_VERSION="$(grep -oE 'centrifugal/centrifuge v[0-9][0-9a-z.+-]*' "$HERE/centrifuge-peer/go.mod" | cut -d' ' -f2)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/chat-platform/centrifugo"
log() { echo "centrifugo-build: $*" >&2; }

command -v go >/dev/null || { log "go is not installed (Go >= 1.24 is needed)"; exit 3; }

# 1. The real Centrifugo, when the module proxy serves it.
if [ "${CENTRIFUGO_TRY_APP:-1}" = 1 ]; then
  if APP_VERSION="$(cd /tmp && GOFLAGS=-mod=mod timeout 60 go list -m -f '{{.Version}}' github.com/centrifugal/centrifugo/v6@latest 2>/dev/null)"; then
    out="$CACHE/app-$APP_VERSION"
    if [ ! -x "$out/bin/centrifugo" ]; then
      log "building Centrifugo $APP_VERSION into $out (nice -n 15; takes minutes)"
      mkdir -p "$out"
      GOBIN="$out/bin" GOFLAGS=-mod=mod nice -n 15 go install "github.com/centrifugal/centrifugo/v6@$APP_VERSION" >&2 ||
        log "go install of Centrifugo failed; falling back to the library build"
    fi
    if [ -x "$out/bin/centrifugo" ]; then echo "app $out/bin/centrifugo"; exit 0; fi
  else
    log "the Go module proxy does not serve github.com/centrifugal/centrifugo/v6; using the centrifuge library $LIB_VERSION"
  fi
fi

# 2. The library build (bench/targets/centrifuge-peer).
out="$CACHE/lib-$LIB_VERSION"
bin="$out/bin/centrifuge-peer"
src_sum="$(cat "$HERE/centrifuge-peer/main.go" "$HERE/centrifuge-peer/go.mod" | sha256sum | cut -c1-12)"
if [ -x "$bin" ] && [ "$(cat "$out/source-sum" 2>/dev/null)" = "$src_sum" ]; then
  echo "lib $bin"
  exit 0
fi
log "building centrifuge-peer on github.com/centrifugal/centrifuge $LIB_VERSION into $out (nice -n 15)"
mkdir -p "$out/bin" "$out/src"
cp "$HERE/centrifuge-peer/main.go" "$HERE/centrifuge-peer/go.mod" "$out/src/"
cd "$out/src"
log "resolving modules"
GOFLAGS=-mod=mod nice -n 15 go mod tidy >&2
log "compiling"
GOFLAGS=-mod=mod nice -n 15 go build -trimpath -o "$bin" . >&2
echo "$src_sum" >"$out/source-sum"
log "built $bin"
echo "lib $bin"
