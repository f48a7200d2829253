#!/usr/bin/env bash
# An acknowledged write survives kill -9: start the server, create a post, kill -9 the server the
# moment the 201 arrives, restart it on the same database and fetch the post.
# Usage: scripts/crash-test.sh [postgres://…]   (no argument: embedded SQLite in a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
BIN=${ROOST_BIN:-.build/debug/roost}
DB=${1:-}
DATA=$(mktemp -d)
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
ARGS=(serve --host 127.0.0.1 --port "$PORT" --data-dir "$DATA" --bcrypt-cost 4 --log-level warning)
[ -n "$DB" ] && ARGS+=(--database "$DB")
PID=""
cleanup() { if [ -n "$PID" ]; then { kill -9 "$PID" && wait "$PID"; } 2>/dev/null || true; fi; rm -rf "$DATA"; }
trap cleanup EXIT

start() {
  "$BIN" "${ARGS[@]}" >"$DATA/server.log" 2>&1 &
  PID=$!
  wait_for_health "$BASE" "$DATA/server.log"
}

json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }

start
USER="crash$RANDOM$RANDOM"
TOKEN=$(curl -fsS -X POST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"username\":\"$USER\",\"email\":\"$USER@example.com\",\"password\":\"correct horse\"}" | json "['access_token']")
ids=()
for i in 1 2 3 4 5; do
  RESPONSE=$(curl -sS -w '\n%{http_code}' -X POST "$BASE/api/v1/posts" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d "{\"text\":\"survives a crash $i\"}")
  CODE=$(tail -n1 <<<"$RESPONSE")
  [ "$CODE" = 201 ] || { echo "post failed: $RESPONSE"; exit 1; }
  ids+=("$(head -n1 <<<"$RESPONSE" | json "['id']")")
done
kill -9 "$PID"; { wait "$PID"; } 2>/dev/null || true; PID=""

start
for id in "${ids[@]}"; do
  CODE=$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/api/v1/posts/$id")
  [ "$CODE" = 200 ] || { echo "FAIL: post $id lost after kill -9 (HTTP $CODE)"; exit 1; }
done
BACKEND=sqlite; [ -n "$DB" ] && BACKEND=postgres
echo "crash test passed ($BACKEND): ${#ids[@]} acknowledged posts survived kill -9"
