#!/usr/bin/env bash
# End-to-end tests of the dashboard (/_/) in headless Chromium, driven by playwright-core.
#
#   run.sh [node --test args…]
#
# Starts Keelbase (${KEELBASE_BIN:-<repo>/target/debug/keelbase}) on a free port with a fresh
# data dir and no superuser, takes the one-time install link it prints, runs the tests in
# dashboard.test.js against it, then stops it and removes the data dir. Screenshots of every
# test go to ${E2E_SCREENSHOTS:-<repo>/tests/e2e/screenshots}. Needs node + npm (installs
# playwright-core on first run) and Chromium at ${CHROMIUM:-/usr/bin/chromium} (Debian's
# `chromium` package).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${KEELBASE_BIN:-$repo/target/debug/keelbase}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export E2E_SCREENSHOTS=${E2E_SCREENSHOTS:-$here/screenshots}

log() { echo "e2e: $*" >&2; }
[ -x "$bin" ] || { log "no Keelbase binary at $bin (cargo build first)"; exit 2; }
[ -x "$CHROMIUM" ] || { log "no Chromium at $CHROMIUM (apt-get install chromium)"; exit 2; }
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund >&2)
fi

data=$(mktemp -d -t keelbase-e2e-XXXXXX)
output="$data/serve.log"
port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$bin" serve --http "127.0.0.1:$port" --dir "$data/kb" >"$output" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

export KB_URL="http://127.0.0.1:$port"
for _ in $(seq 1 200); do
  if grep -q '/_/#/install/' "$output" 2>/dev/null; then break; fi
  kill -0 "$pid" 2>/dev/null || { log "keelbase exited:"; cat "$output" >&2; exit 2; }
  sleep 0.1
done
KB_INSTALL_URL=$(grep -o 'http://[^ ]*/_/#/install/[A-Za-z0-9]*' "$output" | head -1)
[ -n "$KB_INSTALL_URL" ] || { log "no install link in the output:"; cat "$output" >&2; exit 2; }
export KB_INSTALL_URL

mkdir -p "$E2E_SCREENSHOTS"
cd "$here"
node --test --test-concurrency=1 --test-reporter=spec "$@" dashboard.test.js
