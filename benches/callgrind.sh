#!/usr/bin/env bash
# Instructions per request of authentication, counted by callgrind, so the numbers repeat
# on a busy machine (wrk's requests/s do not). Runs every scenario of
# examples/backend/examples/request_loop.rs (see benches/support/stacks.rs) under
# `valgrind --tool=callgrind`, counting only the measured loop, and prints instructions
# per request and the auth/no-auth ratios.
#
#   benches/callgrind.sh            # N=20000 requests per scenario
#   N=5000 benches/callgrind.sh
#
# Needs valgrind. Keeps the callgrind.out files in $OUT (default target/callgrind) for
# callgrind_annotate.
set -euo pipefail

N=${N:-20000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install -y valgrind" >&2; exit 1; }

cargo build --release -q -p example-backend --example request_loop
target=${CARGO_TARGET_DIR:-$root/target}/release
OUT=${OUT:-${CARGO_TARGET_DIR:-$root/target}/callgrind}
mkdir -p "$OUT"

declare -A ir
for scenario in layer-none layer-auth health health-hdr me; do
    file="$OUT/callgrind.out.$scenario"
    valgrind --tool=callgrind --callgrind-out-file="$file" --toggle-collect='*request_loop*measured*' \
        "$target/examples/request_loop" "$scenario" "$N" 2>/dev/null
    total=$(sed -n 's/^summary: //p; s/^totals: //p' "$file" | head -n 1 | awk '{ print $1 }')
    ir[$scenario]=$((total / N))
done

printf '%-12s %12s\n' scenario 'Ir/request'
for scenario in layer-none layer-auth health health-hdr me; do
    printf '%-12s %12d\n' "$scenario" "${ir[$scenario]}"
done
awk -v ln="${ir[layer-none]}" -v la="${ir[layer-auth]}" -v h="${ir[health]}" -v hh="${ir[health-hdr]}" \
    -v m="${ir[me]}" 'BEGIN {
    printf "AuthLayer: +%d Ir/request (layer-auth / layer-none = %.2f)\n", la - ln, la / ln
    printf "router: me / health = %.2f, me / health-hdr = %.2f\n", m / h, m / hh
}'
