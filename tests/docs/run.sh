#!/usr/bin/env bash
# Docs are code: every block fenced as ```sh in the given Markdown files (default: the
# README and docs/ pages that show commands) runs here, in order per file, as one
# `bash -euo pipefail` script, in a fresh directory, against freshly started services.
# Blocks meant for reading only are fenced ```text. A block that must fail says so itself
# (`... | grep -qx 401`).
#
# The debug binaries stand in for `cargo run`: run `cargo test --workspace --no-run` (or
# the test step of .ci/run) first. Inside the scripts:
#   cargo run -p <service>            starts the service in the background, waits for /health
#   cargo run -p <pkg> -- <args>      runs the binary with the args (CLI commands)
#   cargo run --release ...           the same, with the debug binary
#   cargo test ...                    is CI's own test step; reported, not run again
#   crates/user-service/tests/contract/run.sh   the same
#   npm run dev                       starts Vite in the background, waits for its page
#   npm run lint|build|size|test...   frontend/scripts/ci.sh's steps; reported, not run again
#   npm ci                            skipped when node_modules already match package-lock.json
# The scripts run in a fresh directory where `frontend` and `crates` link to the
# repository's. docs/operations.md walks a staging deployment: it runs only with
# TEST_DATABASE_URL and TEST_REDIS_URL, whose servers stand in for the staging ones
# (DATABASE_URL in a fresh schema and REDIS_URL are exported: the process environment
# beats the .env files the page writes).
# Needs curl, jq and oathtool (installed with apt-get when missing, as CI does).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin_dir="${CARGO_TARGET_DIR:-$root/target}/debug"

if [ $# -eq 0 ]; then
  set -- README.md docs/quickstart.md crates/user-service/README.md \
    examples/backend/README.md examples/alert/README.md examples/ticker/README.md frontend/README.md
  if [ -n "${TEST_DATABASE_URL:-}" ] && [ -n "${TEST_REDIS_URL:-}" ]; then
    set -- "$@" docs/operations.md
  else
    echo "NOTICE: docs test: docs/operations.md SKIPPED (its staging walk needs TEST_DATABASE_URL and TEST_REDIS_URL)"
  fi
fi

for tool in curl jq oathtool; do
  if ! command -v "$tool" >/dev/null; then
    echo "installing Debian's $tool for the docs test"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$tool" >/dev/null
  fi
done
for service in user-service example-backend example-alert example-ticker; do
  if [ ! -x "$bin_dir/$service" ]; then
    echo "docs test: $bin_dir/$service is missing; run 'cargo test --workspace --no-run' first" >&2
    exit 2
  fi
done

# What every page's script starts with: `cargo` as described above, and cleanup.
prelude() {
  cat <<EOF
bin_dir='$bin_dir'
logs='$1'
EOF
  cat <<'EOF'
# Started processes are listed in a file: a block may start one from a subshell.
stop_services() {
  if [ -e "$logs/pids" ]; then while read -r pid; do kill -- "$pid" 2>/dev/null || true; done <"$logs/pids"; fi
  wait 2>/dev/null || true
}
trap stop_services EXIT

wait_for_http() { # url name pid
  for _ in $(seq 1 600); do
    if curl -sf -o /dev/null "$1"; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then
      echo "docs test: $2 exited at start:" >&2; tail -n 30 "$logs/$2.log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "docs test: $2 did not answer $1 within 60 s" >&2; return 1
}

service_port() {
  local env_port=8011
  case "${APP_ENV:-dev}" in staging) env_port=8111 ;; production) env_port=8211 ;; esac
  case "$1" in
    user-service) echo "${USER_SERVICE_PORT:-$env_port}" ;;
    example-backend) echo "${PORT:-8010}" ;;
    example-alert) echo "${PORT:-8012}" ;;
    example-ticker) echo "${PORT:-8080}" ;;
    *) return 1 ;;
  esac
}

start_service() {
  local name="$1" port
  port="$(service_port "$name")"
  "$bin_dir/$name" >>"$logs/$name.log" 2>&1 &
  echo $! >>"$logs/pids"
  wait_for_http "http://127.0.0.1:$port/health" "$name" $!
}

npm() {
  case "$*" in
    "run dev")
      # Its own process group, so that stopping it stops Vite too.
      setsid npm run dev >>"$logs/vite.log" 2>&1 &
      echo "-$!" >>"$logs/pids"
      wait_for_http "http://127.0.0.1:3001/" vite $!
      ;;
    ci)
      # npm ci deletes and reinstalls node_modules: skipped when they already match the lock file.
      if [ -e node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
        echo "docs test: 'npm ci': node_modules already installed from this package-lock.json" >&2
      else
        command npm ci --no-audit --no-fund
      fi
      ;;
    "run lint" | "run build" | "run size" | test | "run test" | "run test:e2e")
      echo "docs test: 'npm $*' is a step of frontend/scripts/ci.sh (CI's frontend step), not run again here" >&2 ;;
    *) command npm "$@" ;;
  esac
}

# This runner, shown in the README, is what is running.
tests/docs/run.sh() { echo "docs test: 'tests/docs/run.sh' is this very run" >&2; }
# user-service's contract test is a step of .ci/run of its own.
crates/user-service/tests/contract/run.sh() {
  echo "docs test: the contract test is a step of .ci/run, not run again here" >&2
}

cargo() {
  case "${1:-}" in
    run)
      shift
      local package=""
      while [ $# -gt 0 ]; do
        case "$1" in
          -q | --quiet | --release) shift ;;
          -p | --package) package="$2"; shift 2 ;;
          --) shift; break ;;
          *) echo "docs test: 'cargo run $1' is not supported by the runner" >&2; return 2 ;;
        esac
      done
      if [ $# -eq 0 ] && service_port "$package" >/dev/null; then
        start_service "$package"
      else
        "$bin_dir/$package" "$@"
      fi
      ;;
    test | nextest) echo "docs test: 'cargo $*' is CI's own test step, not run again here" >&2 ;;
    *) command cargo "$@" ;;
  esac
}
EOF
}

# The ```sh blocks of a Markdown file, each announcing the line it starts at.
sh_blocks() {
  awk -v file="$1" '
    /^```sh[[:space:]]*$/ { inside = 1; print "echo \"--- " file ":" NR + 1 "\""; next }
    /^```/ && inside { inside = 0; print ""; next }
    inside { print }
  ' "$root/$1"
}

failed=()
for page in "$@"; do
  work="$(mktemp -d)"
  mkdir -p "$work/logs"
  ln -s "$root/frontend" "$work/frontend"
  ln -s "$root/crates" "$work/crates"
  page_env=(-u TEST_DATABASE_URL -u TEST_REDIS_URL)
  schema=""
  if [ "$page" = docs/operations.md ]; then
    schema="docs_test_$$_$RANDOM"
    PGOPTIONS=--client-min-messages=warning psql -q "$TEST_DATABASE_URL" -c "CREATE SCHEMA $schema"
    page_env+=("DATABASE_URL=$TEST_DATABASE_URL?options=-c%20search_path%3D$schema"
      "REDIS_URL=$TEST_REDIS_URL" "REDIS_KEY_PREFIX=$schema:")
  fi
  { prelude "$work/logs"; sh_blocks "$page"; } >"$work/page.sh"
  blocks="$(grep -c '^echo "--- ' "$work/page.sh" || true)"
  if (cd "$work" && env "${page_env[@]}" timeout 600 bash -euo pipefail page.sh) >"$work/out.log" 2>&1; then
    echo "docs test: $page: $blocks block(s) ran"
    rm -rf "$work"
  else
    echo "docs test: $page FAILED; the last commands and their output:"
    tail -n 40 "$work/out.log"
    for log in "$work"/logs/*.log; do
      [ -e "$log" ] && { echo "--- $(basename "$log") (last lines)"; tail -n 10 "$log"; }
    done
    failed+=("$page")
  fi
  if [ -n "$schema" ]; then PGOPTIONS=--client-min-messages=warning psql -q "$TEST_DATABASE_URL" -c "DROP SCHEMA $schema CASCADE"; fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "docs test: failed: ${failed[*]}"
  exit 1
fi
