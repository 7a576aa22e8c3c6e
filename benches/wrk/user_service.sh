#!/usr/bin/env bash
# user-service on SQLite, in one run (issue 16's two targets):
#  1. refreshes/s: every request rotates a real refresh token (one UPDATE, one INSERT,
#     one signed RS256 access token); target >= 1,000/s;
#  2. /health latency (p99) while LOGINS concurrent logins hash passwords with the
#     production Argon2id cost; target p99 < 10 ms with 200 logins.
#
#   benches/wrk/user_service.sh
#   DURATION=20s LOGINS=200 CONNECTIONS=32 benches/wrk/user_service.sh
#
# Needs wrk (apt-get install -y wrk) and curl. Builds the release binary.
set -euo pipefail

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
LOGINS=${LOGINS:-200}
PORT=${PORT:-18020}

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
cargo build --release -q -p user-service --bin user-service
bin=${CARGO_TARGET_DIR:-$root/target}/release/user-service

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# Throttling counts every login in flight: raise it so each one really hashes.
APP_ENV=dev USER_SERVICE_PORT=$PORT DATABASE_URL="sqlite://$work/bench.db" METRICS_ADDR=off \
    LOG_LEVEL=warn LOGIN_MAX_FAILURES=1000 LOGIN_MAX_FAILURES_PER_ADDRESS=100000 \
    "$bin" >"$work/service.log" 2>&1 &
pid=$!
base=http://127.0.0.1:$PORT
for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/ready")" = 200 ] && break; sleep 0.1; done

email=bench@example.com password='bench-Password-1234'
body="{\"email\":\"$email\",\"password\":\"$password\"}"
curl -fsS -o /dev/null -XPOST "$base/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\",\"name\":\"Bench\"}"

# One session per connection and some spare: a refresh token is single-use, so no two
# requests in flight may carry the same one.
sessions=$((CONNECTIONS * 2))
echo "logging in $sessions sessions..."
for _ in $(seq "$sessions"); do
    # The answer ends without a newline: add one, so each token is a line.
    { curl -fsS -XPOST "$base/v1/auth/login" -H 'content-type: application/json' -d "$body"; echo; } |
        sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p'
done >"$work/refresh_tokens.txt"
[ "$(wc -l <"$work/refresh_tokens.txt")" = "$sessions" ] || { echo "logins failed" >&2; exit 1; }

# Each wrk thread (one here) keeps a queue: a request takes a token, its answer puts the
# rotated one back.
cat >"$work/refresh.lua" <<'LUA'
local queue = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do queue[#queue + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local token = table.remove(queue, 1)
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end
response = function(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then queue[#queue + 1] = token end
end
LUA

cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$body'
LUA

rps() { sed -n 's/^Requests\/sec:[[:space:]]*//p' | tr -d ' '; }
echo "refresh: wrk -t1 -c$CONNECTIONS -d$DURATION"
TOKENS_FILE="$work/refresh_tokens.txt" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s "$work/refresh.lua" \
    "$base/v1/auth/refresh" >"$work/refresh.log"
grep -E 'Non-2xx|Socket errors' "$work/refresh.log" && { echo "refreshes failed" >&2; exit 1; }
refresh=$(rps <"$work/refresh.log")

echo "/health while $LOGINS logins run: wrk -t1 -c$LOGINS on login, wrk -t1 -c1 on /health"
wrk -t1 -c"$LOGINS" -d"$DURATION" --timeout 30s -s "$work/login.lua" "$base/v1/auth/login" >"$work/login.log" &
flood=$!
sleep 2
wrk -t1 -c1 -d"$DURATION" --latency "$base/health" >"$work/health.log"
wait "$flood"
logins=$(rps <"$work/login.log")
p50=$(awk '$1 == "50%" { print $2 }' "$work/health.log")
p99=$(awk '$1 == "99%" { print $2 }' "$work/health.log")
grep -E 'Non-2xx|Socket errors' "$work/login.log" && echo "(some logins failed: see above)"

printf '%-44s %s\n' "refresh (rotations/s, $CONNECTIONS connections)" "$refresh" \
    "logins/s ($LOGINS concurrent)" "$logins" \
    "/health p50 during the logins" "$p50" \
    "/health p99 during the logins" "$p99"
