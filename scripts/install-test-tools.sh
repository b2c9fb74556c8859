#!/usr/bin/env bash
# Installs the external tools lambdabox's test suite needs: the Debian packages
# that build the official Node.js runtime interface client (aws-lambda-ric, which
# compiles bundled curl + aws-lambda-cpp + a node-gyp addon at install time), then
# `npm ci` in tests/tools. Idempotent, non-interactive, quick when all is present.
# Run as root (or with passwordless apt rights) on Debian 12 with Node.js >= 20.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$ROOT/tests/tools"
STAMP="$TOOLS_DIR/node_modules/.lambdabox-lock.sha256"
ADDON="$TOOLS_DIR/node_modules/aws-lambda-ric/rapid-client.node"

log() { printf '[install-test-tools] %s\n' "$*"; }
die() { printf '[install-test-tools] ERROR: %s\n' "$*" >&2; exit 1; }

start=$(date +%s)

# --- 1. Debian packages -------------------------------------------------------
# aws-lambda-ric's preinstall runs curl's ./configure + make (C compiler, make),
# cmake for aws-lambda-cpp (C++ compiler), and `tar xJf` (xz); its postinstall runs
# node-gyp, which needs python3, make and g++. autoconf/automake/libtool are NOT
# needed: the bundled curl ships a generated ./configure with the same mtime as
# configure.ac, so its autoreconf branch never runs.
need_pkgs=(build-essential g++ make cmake xz-utils)
# the README's examples and `make run`'s banner, which tests run with bash as written, use zip and curl
need_pkgs+=(zip curl)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)

missing=()
for p in "${need_pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo -n); fi
    "${SUDO[@]}" apt-get update -qq </dev/null
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
else
    log "Debian packages present: ${need_pkgs[*]}"
fi

# --- 2. Node.js toolchain checks ---------------------------------------------
command -v node >/dev/null 2>&1 || die "node not found (Node.js >= 20 is required)"
command -v npm >/dev/null 2>&1 || die "npm not found"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || die "Node.js $(node -v) is too old (need >= 20)"

# node-gyp must compile against local headers: without a nodedir it downloads the
# headers tarball from nodejs.org, which this network cannot reach. The nodesource
# nodejs package ships them in <prefix>/include/node.
if [ -z "${npm_config_nodedir:-}" ]; then
    node_prefix=$(cd "$(dirname "$(readlink -f "$(command -v node)")")/.." && pwd)
    if [ -f "$node_prefix/include/node/common.gypi" ]; then
        export npm_config_nodedir="$node_prefix"
    else
        die "no Node.js headers at $node_prefix/include/node (node-gyp would try to download them)"
    fi
fi

# --- 3. npm packages ----------------------------------------------------------
[ -f "$TOOLS_DIR/package-lock.json" ] || die "missing $TOOLS_DIR/package-lock.json"
want=$(sha256sum "$TOOLS_DIR/package-lock.json" "$TOOLS_DIR/package.json" | sha256sum | cut -d' ' -f1)
have=$(cat "$STAMP" 2>/dev/null || true)

if [ "$want" = "$have" ] && [ -f "$ADDON" ]; then
    log "tests/tools/node_modules up to date"
else
    log "running npm ci in tests/tools (builds aws-lambda-ric's native addon, ~1 min)"
    npm_log=$(mktemp)
    trap 'rm -f "$npm_log"' EXIT
    if ! (cd "$TOOLS_DIR" && npm ci --no-audit --no-fund --loglevel=warn </dev/null >"$npm_log" 2>&1); then
        # Bundled tarballs print thousands of harmless "LIBARCHIVE.xattr" tar warnings.
        grep -v 'LIBARCHIVE.xattr' "$npm_log" | tail -n 60 >&2
        die "npm ci failed in $TOOLS_DIR"
    fi
    [ -f "$ADDON" ] || die "npm ci succeeded but $ADDON was not built"
    printf '%s\n' "$want" >"$STAMP"
    log "npm ci done"
fi

# --- 4. the Express apps: the HTTP API tests' and examples/express-http-api (their own projects, as a user's would be) ----
for APP_DIR in "$(dirname "$TOOLS_DIR")/apps/express-http" "$ROOT/examples/express-http-api"; do
    APP_STAMP="$APP_DIR/node_modules/.lambdabox-stamp"
    app_want=$(sha256sum "$APP_DIR/package-lock.json" "$APP_DIR/package.json" | sha256sum | cut -d' ' -f1)
    if [ "$app_want" != "$(cat "$APP_STAMP" 2>/dev/null || true)" ]; then
        log "running npm ci in ${APP_DIR#"$ROOT"/}"
        (cd "$APP_DIR" && npm ci --no-audit --no-fund --loglevel=warn </dev/null) >&2 || die "npm ci failed in $APP_DIR"
        printf '%s\n' "$app_want" >"$APP_STAMP"
    fi
done

# The addon reads AWS_LAMBDA_RUNTIME_API when loaded (aborts if unset); no connection is made.
AWS_LAMBDA_RUNTIME_API=127.0.0.1:9 node -e 'require(process.argv[1])' "$ADDON" || die "cannot load $ADDON"
log "ok: aws-lambda-ric $(node -p "require('$TOOLS_DIR/node_modules/aws-lambda-ric/package.json').version") ready ($(($(date +%s) - start))s)"
