#!/usr/bin/env bash
# Installs the Debian packages lambdabox's sandbox uses when they are missing: tini (the init
# that reaps orphaned processes as pid 1 of each environment) and libseccomp2 (the seccomp
# filter). Without them lambdabox still runs (its own reaper, no seccomp filter) and says so
# at start. Non-interactive; quick when all is present; skipped (one line) without root/apt.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
log() { printf '[install-system-packages] %s\n' "$*"; }

pkgs=(tini libseccomp2)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    log "present: ${pkgs[*]}"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    log "no apt-get here: install ${missing[*]} by hand for the full sandbox"
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
    log "not root: install ${missing[*]} by hand for the full sandbox"
    exit 0
fi
log "installing ${missing[*]}"
"${SUDO[@]}" apt-get update -qq </dev/null
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
