#!/usr/bin/env bash
# Side by side in one run, for axum and actix-web: the same `hello` handler with no
# auth, (axum) behind a layer that does nothing, behind authgate (one token, and a new token on every request), behind authgate
# without its token cache, behind a hand-written `jsonwebtoken::decode` middleware, and
# (axum 0.7) behind jwt-authorizer, built from benches/peer outside the workspace.
#
#   benches/wrk/compare.sh                         # defaults below
#   ROUNDS=7 DURATION=10s benches/wrk/compare.sh
#   PEER=0 CALLGRIND=0 benches/wrk/compare.sh      # skip the peer crate / callgrind
#
# wrk -t1 -c32 against release servers with one worker thread each (wrk has the other
# core). Every scenario runs ROUNDS times, interleaved (A B C ... A B C ...), so load from
# elsewhere hits all of them alike; the table shows each scenario's median and the
# ratios of medians. The servers restart before every round, so no token cache carries
# a distinct token from one round into the next, and a round that sends more requests
# than there are tokens (so some token twice, which a cache may answer) is flagged:
# raise TOKENS or shorten DURATION until none is. Then callgrind counts instructions per request of the same stacks
# without a network (`loop` mode of each server, only the `measured` function), the
# stable figure on a busy machine.
#
# Needs wrk, curl and (for CALLGRIND=1) valgrind: apt-get install -y wrk curl valgrind.
set -euo pipefail

DURATION=${DURATION:-3s}
ROUNDS=${ROUNDS:-5}
TOKENS=${TOKENS:-80000}
PEER=${PEER:-1}
CALLGRIND=${CALLGRIND:-1}
N_SAME=${N_SAME:-20000}
N_DISTINCT=${N_DISTINCT:-2000}
PORT_AXUM=${PORT_AXUM:-18020}
PORT_ACTIX=${PORT_ACTIX:-18021}
PORT_PEER=${PORT_PEER:-18022}

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
target=${CARGO_TARGET_DIR:-$root/target}

cargo build --release -q -p authgate -p authgate-tower -p authgate-actix \
    --example bench_mint --example bench_axum --example bench_actix
bin=$target/release/examples
peer_bin=$target/peer/release/bench-peer
if [ "$PEER" = 1 ]; then
    cargo build --release -q --manifest-path benches/peer/Cargo.toml --target-dir "$target/peer"
fi

data=$target/bench
if [ "$(wc -l <"$data/tokens.txt" 2>/dev/null || echo 0)" -ne "$TOKENS" ]; then
    echo "minting $TOKENS tokens into $data..."
    "$bin/bench_mint" "$data" "$TOKENS"
fi
export TOKENS_FILE=$data/tokens.txt
token=$(head -n 1 "$TOKENS_FILE")

pids=()
work=$(mktemp -d)
stop_servers() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
start_servers() {
    "$bin/bench_axum" serve "$data" "$PORT_AXUM" & pids+=($!)
    "$bin/bench_actix" serve "$data" "$PORT_ACTIX" & pids+=($!)
    if [ "$PEER" = 1 ]; then "$peer_bin" serve "$data" "$PORT_PEER" & pids+=($!); fi
}
cleanup() {
    stop_servers
    rm -rf "$work"
}
trap cleanup EXIT

# name, URL, token mode (same: one token; distinct: tokens.lua)
scenarios=(
    "axum/none               http://127.0.0.1:$PORT_AXUM/none same"
    "axum/passthrough        http://127.0.0.1:$PORT_AXUM/passthrough same"
    "axum/authgate           http://127.0.0.1:$PORT_AXUM/authgate same"
    "axum/authgate-distinct  http://127.0.0.1:$PORT_AXUM/authgate distinct"
    "axum/nocache-distinct   http://127.0.0.1:$PORT_AXUM/nocache distinct"
    "axum/firstsight-distinct http://127.0.0.1:$PORT_AXUM/firstsight distinct"
    "axum/jsonwebtoken-distinct http://127.0.0.1:$PORT_AXUM/jsonwebtoken distinct"
    "actix/none              http://127.0.0.1:$PORT_ACTIX/none same"
    "actix/authgate          http://127.0.0.1:$PORT_ACTIX/authgate same"
    "actix/authgate-distinct http://127.0.0.1:$PORT_ACTIX/authgate distinct"
    "actix/nocache-distinct  http://127.0.0.1:$PORT_ACTIX/nocache distinct"
    "actix/jsonwebtoken-distinct http://127.0.0.1:$PORT_ACTIX/jsonwebtoken distinct"
)
if [ "$PEER" = 1 ]; then
    scenarios+=(
        "peer/none               http://127.0.0.1:$PORT_PEER/none same"
        "peer/jwt-authorizer     http://127.0.0.1:$PORT_PEER/jwt-authorizer same"
        "peer/jwt-authorizer-distinct http://127.0.0.1:$PORT_PEER/jwt-authorizer distinct"
    )
fi

# Fresh servers, each scenario answering 200 to the same-token scenarios' token.
restart_servers() {
    stop_servers
    start_servers
    for s in "${scenarios[@]}"; do
        read -r name url _ <<<"$s"
        for _ in $(seq 100); do
            code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url" || true)
            [ "$code" = 200 ] && break
            sleep 0.1
        done
        [ "$code" = 200 ] || { echo "$name: $url answers $code" >&2; exit 1; }
        # The same token a second time: cached from now on (admission on second sighting).
        curl -s -o /dev/null -H "Authorization: Bearer $token" "$url"
    done
}

rps() { sed -n 's/^Requests\/sec:[[:space:]]*//p' | tr -d ' '; }
echo "wrk -t1 -c32 -d$DURATION, $ROUNDS interleaved rounds, $TOKENS distinct tokens"
repeats=0
for round in $(seq "$ROUNDS"); do
    restart_servers
    line="round $round:"
    for s in "${scenarios[@]}"; do
        read -r name url mode <<<"$s"
        if [ "$mode" = same ]; then
            r=$(wrk -t1 -c32 -d"$DURATION" -H "Authorization: Bearer $token" "$url" | tee -a "$work/wrk.log" | rps)
        else
            out=$(wrk -t1 -c32 -d"$DURATION" -s benches/wrk/tokens.lua "$url" | tee -a "$work/wrk.log")
            r=$(rps <<<"$out")
            sent=$(awk '/requests in/ { print $1 }' <<<"$out")
            if [ "${sent:-0}" -gt "$TOKENS" ]; then
                echo "WARNING: $name sent $sent requests with $TOKENS tokens: some token twice" >&2
                repeats=1
            fi
        fi
        echo "$r" >>"$work/${name//\//_}"
        line="$line $r"
    done
    echo "$line"
done
grep -E 'Non-2xx|Socket errors' "$work/wrk.log" || true
[ "$repeats" = 0 ] || echo "WARNING: tokens repeated within a round: the distinct figures include cache hits" >&2

median() { sort -n "$work/${1//\//_}" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A med ir
for s in "${scenarios[@]}"; do
    read -r name _ <<<"$s"
    med[$name]=$(median "$name")
done

if [ "$CALLGRIND" = 1 ]; then
    command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install -y valgrind" >&2; exit 1; }
    mkdir -p "$target/callgrind"
    for s in "${scenarios[@]}"; do
        read -r name url mode <<<"$s"
        framework=${name%%/*}
        path=${url##*/}
        case $framework in
            axum) exe=$bin/bench_axum ;;
            actix) exe=$bin/bench_actix ;;
            peer) exe=$peer_bin ;;
        esac
        n=$N_SAME
        [ "$mode" = distinct ] && n=$N_DISTINCT
        file="$target/callgrind/callgrind.out.${name//\//_}"
        # shellcheck disable=SC2046
        valgrind --tool=callgrind --callgrind-out-file="$file" --toggle-collect='*measured*' \
            "$exe" loop "$data" "$path" "$n" $([ "$mode" = distinct ] && echo distinct) 2>/dev/null
        total=$(sed -n 's/^summary: //p; s/^totals: //p' "$file" | head -n 1 | awk '{ print $1 }')
        ir[$name]=$((total / n))
    done
fi

printf '\n%-30s %12s %12s\n' scenario 'median req/s' 'Ir/request'
for s in "${scenarios[@]}"; do
    read -r name _ <<<"$s"
    printf '%-30s %12.0f %12s\n' "$name" "${med[$name]}" "${ir[$name]:--}"
done

# A ratio of throughputs (higher is better) beside the ratio of instruction counts
# turned the same way (b's instructions / a's).
ratio() {
    local label=$1 a=$2 b=$3 target=$4
    awk -v l="$label" -v ra="${med[$a]}" -v rb="${med[$b]}" -v ia="${ir[$a]:-0}" -v ib="${ir[$b]:-0}" -v t="$target" 'BEGIN {
        r = ra / rb
        i = (ia > 0 && ib > 0) ? sprintf("%.3f", ib / ia) : "-"
        verdict = (t == "") ? "" : (r >= t ? "met (>= " t ")" : "MISSED (>= " t ")")
        printf "%-52s %7.3f %9s   %s\n", l, r, i, verdict
    }'
}
printf '\n%-52s %7s %9s   %s\n' ratio wrk callgrind target
for fw in axum actix; do
    ratio "$fw: authgate same token / no auth" "$fw/authgate" "$fw/none" 0.95
    ratio "$fw: authgate distinct / authgate without cache" "$fw/authgate-distinct" "$fw/nocache-distinct" 1.0
    ratio "$fw: authgate distinct / hand-written jsonwebtoken" "$fw/authgate-distinct" "$fw/jsonwebtoken-distinct" 1.2
done
ratio "axum: first-sighting admission distinct / without cache" axum/firstsight-distinct axum/nocache-distinct ""
ratio "axum: a layer that does nothing / no auth" axum/passthrough axum/none ""
ratio "axum: authgate same token / the do-nothing layer" axum/authgate axum/passthrough ""
if [ "$PEER" = 1 ]; then
    ratio "peer: jwt-authorizer same token / its no auth" peer/jwt-authorizer peer/none ""
    ratio "axum: authgate same token / jwt-authorizer" axum/authgate peer/jwt-authorizer ""
    ratio "axum: authgate distinct / jwt-authorizer distinct" axum/authgate-distinct peer/jwt-authorizer-distinct ""
fi
