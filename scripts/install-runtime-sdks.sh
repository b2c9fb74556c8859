#!/usr/bin/env bash
# Installs the AWS SDK sets that lambdabox's runtimes carry, as Lambda's do, into DEST:
#   DEST/python                the AWS SDK for Python (runtime-sdk/python/requirements.txt),
#                              `pip install --no-deps --target`: every package pinned there
#   DEST/nodejs/node_modules   the AWS SDK for JavaScript v3 (runtime-sdk/nodejs/package*.json),
#                              `npm ci --omit=dev`
# Usage: scripts/install-runtime-sdks.sh DEST   (the Makefile passes $(VENV)/share/lambdabox/runtime-sdk,
# where `lambdabox serve` looks by default). Nothing is fetched at invoke time.
#
# Idempotent: a stamp file per set holds the hash of its pin files; an unchanged set is skipped.
# Each set is installed into a scratch directory and moved into place only when complete.
# Without node/npm only the Python set is installed. PYTHON (default python3) runs pip.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PINS="$ROOT/runtime-sdk"
PYTHON="${PYTHON:-python3}"

log() { printf '[install-runtime-sdks] %s\n' "$*"; }
die() { printf '[install-runtime-sdks] ERROR: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: $0 DEST"
mkdir -p "$1"
DEST="$(cd "$1" && pwd)"

# One installer at a time per DEST (several worktrees may share one venv).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$DEST/.install.lock"
    flock 9
fi

work_log=$(mktemp)
trap 'rm -f "$work_log"; rm -rf "$DEST/.python.partial" "$DEST/.nodejs.partial"' EXIT

hash_of() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

# --- 1. Python: boto3 and its dependencies --------------------------------------
req="$PINS/python/requirements.txt"
[ -f "$req" ] || die "missing $req"
want=$(hash_of "$req")
if [ "$want" = "$(cat "$DEST/.python.stamp" 2>/dev/null || true)" ] && [ -d "$DEST/python" ]; then
    log "python: up to date in $DEST/python"
else
    log "python: installing $(grep -Eo '^boto3==[^ ]+' "$req") and its pinned dependencies into $DEST/python"
    rm -rf "$DEST/.python.partial"
    if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-input --no-deps \
        --only-binary=:all: --target "$DEST/.python.partial" -r "$req" >"$work_log" 2>&1; then
        cat "$work_log" >&2
        die "pip install -r $req failed"
    fi
    # One set serves every python3.x runtime: no compiled extension may slip in.
    if compiled=$(find "$DEST/.python.partial" -name '*.so' -print -quit) && [ -n "$compiled" ]; then
        die "the Python SDK set must be pure Python, but it contains $compiled"
    fi
    rm -rf "$DEST/.python.partial/bin"  # console scripts (jp.py) would name the installing interpreter
    rm -rf "$DEST/python"
    mv "$DEST/.python.partial" "$DEST/python"
    printf '%s\n' "$want" >"$DEST/.python.stamp"
fi

# --- 2. Node.js: the AWS SDK for JavaScript v3 ----------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    log "nodejs: node/npm not found, Node.js SDK set not installed (nodejs runtimes need Node.js anyway)"
    exit 0
fi
for f in package.json package-lock.json; do
    [ -f "$PINS/nodejs/$f" ] || die "missing $PINS/nodejs/$f"
done
want=$(hash_of "$PINS/nodejs/package.json" "$PINS/nodejs/package-lock.json")
if [ "$want" = "$(cat "$DEST/.nodejs.stamp" 2>/dev/null || true)" ] && [ -d "$DEST/nodejs/node_modules" ]; then
    log "nodejs: up to date in $DEST/nodejs/node_modules"
else
    version=$(node -p "require('$PINS/nodejs/package.json').dependencies['@aws-sdk/client-lambda']")
    log "nodejs: installing the AWS SDK for JavaScript v3 ($version) into $DEST/nodejs/node_modules"
    rm -rf "$DEST/.nodejs.partial"
    mkdir -p "$DEST/.nodejs.partial"
    cp "$PINS/nodejs/package.json" "$PINS/nodejs/package-lock.json" "$DEST/.nodejs.partial/"
    if ! npm ci --omit=dev --prefix "$DEST/.nodejs.partial" --no-audit --no-fund --loglevel=warn \
        </dev/null >"$work_log" 2>&1; then
        tail -n 60 "$work_log" >&2
        die "npm ci failed for $PINS/nodejs"
    fi
    [ -f "$DEST/.nodejs.partial/node_modules/@aws-sdk/client-lambda/package.json" ] \
        || die "npm ci succeeded but @aws-sdk/client-lambda is missing"
    rm -rf "$DEST/nodejs"
    mv "$DEST/.nodejs.partial" "$DEST/nodejs"
    printf '%s\n' "$want" >"$DEST/.nodejs.stamp"
fi
