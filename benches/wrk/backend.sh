#!/usr/bin/env bash
# Requests/s of example-backend in one run: /health (no auth) vs /api/me with one token
# (verified once, then served from the token cache) vs /api/me with many distinct tokens
# (each a real RS256 verification while the cache churns).
#
#   benches/wrk/backend.sh                 # defaults below
#   DURATION=30s TOKENS=50000 ROUNDS=3 benches/wrk/backend.sh
#
# Each scenario runs ROUNDS times, interleaved, and the best run counts: on a shared
# machine, background load only ever lowers a number.
#
# Needs wrk (apt-get install -y wrk) and curl. Builds release binaries; the target is
# "cached auth keeps at least 90% of the no-auth requests/s".
set -euo pipefail

DURATION=${DURATION:-15s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
TOKENS=${TOKENS:-20000}
PORT=${PORT:-18010}
ROUNDS=${ROUNDS:-2}

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }

cargo build --release -q -p example-backend --bin example-backend --example bench_idp
target=${CARGO_TARGET_DIR:-$root/target}/release

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

echo "minting $TOKENS tokens..."
"$target/examples/bench_idp" "$work/tokens.txt" "$TOKENS" >"$work/idp.out" &
pids+=($!)
for _ in $(seq 600); do grep -q '^JWKS_URL=' "$work/idp.out" 2>/dev/null && break; sleep 0.1; done
jwks_url=$(sed -n 's/^JWKS_URL=//p' "$work/idp.out")
[ -n "$jwks_url" ] || { echo "bench_idp did not start" >&2; exit 1; }

PORT=$PORT JWKS_URL=$jwks_url RUST_LOG=warn "$target/example-backend" &
pids+=($!)
base=http://127.0.0.1:$PORT
for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/ready")" = 200 ] && break; sleep 0.1; done

token=$(head -n 1 "$work/tokens.txt")
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/api/me")" = 200 ] \
    || { echo "the token is not accepted" >&2; exit 1; }

rps() { sed -n 's/^Requests\/sec:[[:space:]]*//p' | tr -d ' '; }
run() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | tee -a "$work/wrk.log" | rps; }

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION against $base, best of $ROUNDS interleaved rounds"
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? a : b }'; }
export TOKENS_FILE="$work/tokens.txt"
health=0 health_hdr=0 cached=0 many=0
for round in $(seq "$ROUNDS"); do
    health=$(best "$health" "$(run "$base/health")")
    # Control: the same request size as /api/me, no authentication work.
    health_hdr=$(best "$health_hdr" "$(run -H "Authorization: Bearer $token" "$base/health")")
    cached=$(best "$cached" "$(run -H "Authorization: Bearer $token" "$base/api/me")")
    many=$(best "$many" "$(run -s "$root/benches/wrk/many_tokens.lua" "$base/api/me")")
    echo "round $round: $health $health_hdr $cached $many"
done

grep -E 'Non-2xx|Socket errors' "$work/wrk.log" || true
awk -v h="$health" -v hh="$health_hdr" -v c="$cached" -v m="$many" -v n="$TOKENS" 'BEGIN {
    printf "%-36s %12s %8s\n", "scenario", "requests/s", "vs /health"
    printf "%-36s %12.0f %7.1f%%\n", "/health (no auth)", h, 100
    printf "%-36s %12.0f %7.1f%%\n", "/health + same Authorization header", hh, 100 * hh / h
    printf "%-36s %12.0f %7.1f%%\n", "/api/me, one token (cached)", c, 100 * c / h
    printf "%-36s %12.0f %7.1f%%\n", "/api/me, " n " distinct tokens", m, 100 * m / h
    printf "cached /api/me vs /health with the same header: %.1f%%\n", 100 * c / hh
    if (c < 0.9 * h) { print "cached auth is below the 90% target"; exit 1 }
}'
