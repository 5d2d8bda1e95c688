#!/usr/bin/env bash
# Installs Debian's chromium for the web app's browser test (test/web/), once per machine; the test
# runs it by itself when /usr/bin/chromium is missing. Playwright's own browser downloads cannot be
# reached here: the test drives this Chromium through playwright-core.
set -euo pipefail
log() { echo "[chromium] $*" >&2; }
die() {
  echo "[chromium] error: $*" >&2
  exit 1
}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || die "no apt-get: install Chromium by hand and set CHAT_CHROMIUM to its path"
log "installing chromium (apt-get; once per machine, a few minutes)"
as_root apt-get -o DPkg::Lock::Timeout=300 update -qq ||
  die "apt-get update failed (as root, or with passwordless sudo); install chromium by hand"
DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium >/dev/null ||
  die "apt-get install chromium failed; install it by hand, or set CHAT_CHROMIUM to a Chromium binary"
[ -x /usr/bin/chromium ] || die "chromium installed, but /usr/bin/chromium is missing"
log "installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
