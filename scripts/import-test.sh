#!/usr/bin/env bash
# `roost import` end to end: CSVs (with quoting, commas and newlines in text) → import (twice:
# idempotent per row) → the server shows the users, follows, counters and posts.
# Usage: scripts/import-test.sh [postgres://…]   (no argument: embedded SQLite in a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
BIN=${ROOST_BIN:-.build/debug/roost}
DB=${1:-}
DATA=$(mktemp -d)
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
DBARGS=(--data-dir "$DATA")
[ -n "$DB" ] && DBARGS+=(--database "$DB")
PID=""
cleanup() { if [ -n "$PID" ]; then { kill -9 "$PID" && wait "$PID"; } 2>/dev/null || true; fi; rm -rf "$DATA"; }
trap cleanup EXIT

NOW_MS=$(($(date +%s) * 1000))
ID_BASE=$(( (NOW_MS - 1735689600000) << 22 ))
cat >"$DATA/users.csv" <<CSV
id,username,created_at
$((ID_BASE + 1)),imp_ada,2026-01-01T10:00:00Z
$((ID_BASE + 2)),imp_grace,2026-01-02T10:00:00.123Z
$((ID_BASE + 3)),imp_linus,2026-01-03T10:00:00Z
CSV
cat >"$DATA/follows.csv" <<CSV
follower_id,followee_id
$((ID_BASE + 2)),$((ID_BASE + 1))
$((ID_BASE + 3)),$((ID_BASE + 1))
$((ID_BASE + 1)),$((ID_BASE + 3))
CSV
cat >"$DATA/posts.csv" <<CSV
id,author_id,created_at,text
$((ID_BASE + 100)),$((ID_BASE + 1)),2026-01-04T10:00:00Z,"Hello, world"
$((ID_BASE + 101)),$((ID_BASE + 1)),2026-01-05T10:00:00Z,"A ""quoted"" line
and a second line"
$((ID_BASE + 102)),$((ID_BASE + 3)),2026-01-06T10:00:00Z,plain
CSV

for _ in 1 2; do
  "$BIN" import "${DBARGS[@]}" --users "$DATA/users.csv" --follows "$DATA/follows.csv" --posts "$DATA/posts.csv" 2>/dev/null
done

"$BIN" serve --host 127.0.0.1 --port "$PORT" "${DBARGS[@]}" --log-level warning >"$DATA/server.log" 2>&1 &
PID=$!
wait_for_health "$BASE" "$DATA/server.log"

check() { python3 -c "import sys, json; d = json.load(sys.stdin); assert $1, d" || { echo "FAIL: $1"; exit 1; }; }
curl -fsS "$BASE/api/v1/users/imp_ada" | check "d['followers_count'] == 2 and d['following_count'] == 1 and d['posts_count'] == 2"
curl -fsS "$BASE/api/v1/users/imp_ada/posts" | check "[p['text'] for p in d['items']] == ['A \"quoted\" line\nand a second line', 'Hello, world']"
TOKEN=$("$BIN" user token imp_grace "${DBARGS[@]}" 2>/dev/null)
curl -fsS "$BASE/api/v1/feeds/home" -H "authorization: Bearer $TOKEN" | check "len(d['items']) == 2"
BACKEND=sqlite; [ -n "$DB" ] && BACKEND=postgres
echo "import test passed ($BACKEND)"
