#!/usr/bin/env bash
# Run the PocketBase compatibility suite (official JS SDK + node:test) against a server.
#
#   run.sh pocketbase   start the reference PocketBase 0.40.6 on a free port, run the suite, stop it
#   run.sh keelbase     start Keelbase (${KEELBASE_BIN:-<repo>/target/debug/keelbase}) with a fresh
#                       data dir and superuser, run the suite, stop it and remove the data dir;
#                       with COMPAT_DB=postgres its records go to a fresh PostgreSQL database
#                       (on KEELBASE_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432),
#                       dropped afterwards
#   run.sh URL          run the suite against an already running server (e.g. http://127.0.0.1:8090)
#
# Any further arguments go to `node --test`, e.g. `run.sh pocketbase --test-name-pattern=expand`.
# test/ is the core suite, auth/ the auth suite (collections, emails, OTP/MFA, OAuth2, rules,
# rate limits) and files/ the files suite (uploads, thumbs, protected files); all run everywhere.
# Environment: KB_SU_EMAIL / KB_SU_PASSWORD (default admin@example.com / adminpass123456),
# PB_REFERENCE (default /work/shared/tools/pocketbase-reference, else <repo>/../shared/tools/...),
# KEELBASE_BIN. Exit code = the suite's result (2 when the server could not be started).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${1:-}
if [ -z "$target" ]; then
  sed -n '2,17p' "$0" >&2
  exit 2
fi
shift
extra_args=("$@")

export KB_SU_EMAIL=${KB_SU_EMAIL:-admin@example.com}
export KB_SU_PASSWORD=${KB_SU_PASSWORD:-adminpass123456}

log() { echo "run.sh: $*" >&2; }

# --- dependencies -------------------------------------------------------------------------------
command -v node >/dev/null || { log "node is required"; exit 2; }
if [ ! -d "$here/node_modules/pocketbase" ]; then
  if [ -f "$here/package-lock.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund >&2)
  else
    (cd "$here" && npm install --no-audit --no-fund >&2)
  fi
fi

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Poll GET /api/health until it answers 200 (bounded: ~20 s), failing early if the process died.
wait_healthy() {
  local url=$1 pid=$2 i
  for i in $(seq 1 200); do
    if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))' "$url/api/health"; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { log "server process $pid exited"; return 1; }
    sleep 0.1
  done
  log "server at $url did not become healthy"
  return 1
}

run_suite() {
  export KB_URL=$1
  log "running the suite against $KB_URL"
  cd "$here"
  local rc=0
  local files=(test/*.test.js auth/*.test.js files/*.test.js)
  node --test --test-concurrency=1 --test-reporter=spec ${extra_args[@]+"${extra_args[@]}"} "${files[@]}" || rc=$?
  return $rc
}

case "$target" in
  pocketbase)
    ref=${PB_REFERENCE:-/work/shared/tools/pocketbase-reference}
    [ -x "$ref" ] || ref=$repo/../shared/tools/pocketbase-reference
    [ -x "$ref" ] || { log "pocketbase-reference tool not found (set PB_REFERENCE)"; exit 2; }
    port=$(free_port)
    out=$("$ref" start "$port" "$KB_SU_EMAIL" "$KB_SU_PASSWORD")
    pid=$(printf '%s\n' "$out" | tail -n1)
    case "$pid" in ''|*[!0-9]*) log "could not start the reference server: $out"; exit 2 ;; esac
    trap '"$ref" stop "$pid" >/dev/null 2>&1 || true' EXIT
    trap 'exit 130' INT TERM
    log "PocketBase reference pid $pid on port $port"
    rc=0
    run_suite "http://127.0.0.1:$port" || rc=$?
    exit $rc
    ;;

  keelbase)
    bin=${KEELBASE_BIN:-$repo/target/debug/keelbase}
    [ -x "$bin" ] || { log "Keelbase binary not found at $bin (build it or set KEELBASE_BIN)"; exit 2; }
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/keelbase-compat.XXXXXX")
    logf=$(mktemp "${TMPDIR:-/tmp}/keelbase-compat-log.XXXXXX")
    pid=
    pg_server=${KEELBASE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}
    pg_db=
    cleanup() {
      if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
      fi
      if [ -n "$pg_db" ]; then
        psql -q "$pg_server/test" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null || true
      fi
      rm -rf "$tmp" "$logf"
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    if [ "${COMPAT_DB:-sqlite}" = postgres ]; then
      command -v psql >/dev/null || { log "psql is required for COMPAT_DB=postgres"; exit 2; }
      pg_db="kb_compat_$$"
      psql -q "$pg_server/test" -c "CREATE DATABASE $pg_db" >/dev/null \
        || { log "could not create database $pg_db"; exit 2; }
      export KEELBASE_DATABASE_URL="$pg_server/$pg_db"
      log "records in PostgreSQL database $pg_db"
    fi
    if ! "$bin" superuser upsert "$KB_SU_EMAIL" "$KB_SU_PASSWORD" --dir "$tmp" >"$logf" 2>&1; then
      log "superuser upsert failed:"; cat "$logf" >&2; exit 2
    fi
    port=$(free_port)
    "$bin" serve --http "127.0.0.1:$port" --dir "$tmp" >"$logf" 2>&1 &
    pid=$!
    if ! wait_healthy "http://127.0.0.1:$port" "$pid"; then
      log "Keelbase log:"; tail -n 50 "$logf" >&2; exit 2
    fi
    log "Keelbase pid $pid on port $port"
    rc=0
    run_suite "http://127.0.0.1:$port" || rc=$?
    if [ "$rc" -ne 0 ]; then log "last Keelbase log lines:"; tail -n 20 "$logf" >&2; fi
    exit $rc
    ;;

  http://*|https://*)
    url=${target%/}
    node -e 'fetch(process.argv[1]).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))' "$url/api/health" \
      || { log "no healthy server at $url"; exit 2; }
    rc=0
    run_suite "$url" || rc=$?
    exit $rc
    ;;

  *)
    sed -n '2,17p' "$0" >&2
    exit 2
    ;;
esac
