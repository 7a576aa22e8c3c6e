#!/usr/bin/env bash
# Contract test: Schemathesis (every check, fixed seed, 50+ examples per operation)
# against the `/openapi.json` of a freshly started user-service (debug binary, temporary
# SQLite file, a free port, an admin's tokens). Must report 0 failures.
#
# Two passes. The second holds the operations that end the caller's session or identity
# (logout, password change and reset, session revoke, MFA changes, changing an admin,
# signing-key rotation); each of its requests logs in afresh (credentials.py). Nothing
# else is excluded, and the operations tested (JUnit reports) must equal the spec's.
#
# Schemathesis comes from PyPI, pinned, into a virtualenv under the cache directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd -P)"
root="$(cd "$here/../../../.." && pwd -P)"
bin="${CARGO_TARGET_DIR:-$root/target}/debug/user-service"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac # the service runs from a temporary directory
schemathesis_version=4.32.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/authgate/schemathesis-$schemathesis_version"
started=$SECONDS

if [ ! -x "$bin" ]; then
  cargo build --locked --manifest-path "$root/Cargo.toml" -p user-service
fi
if [ ! -x "$venv/bin/st" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
py="$venv/bin/python"

work="$(mktemp -d)"
service_pid=""
cleanup() {
  if [ -n "$service_pid" ]; then kill "$service_pid" 2>/dev/null || true; wait "$service_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
# Only this environment counts: no .env file of the caller's directory, no Redis. Cheap
# password hashes and throttle limits out of the fuzzer's reach keep the run short and its
# answers about the contract, not about the 429 of a sixth wrong password.
service_env=(
  -u REDIS_URL -u SMTP_URL -u PUBLIC_URL -u FRONTEND_URL -u CORS_ALLOWED_ORIGINS
  APP_ENV=dev USER_SERVICE_ENV_DIR="$work" USER_SERVICE_HOST=127.0.0.1 USER_SERVICE_PORT="$port"
  DATABASE_URL="sqlite://$work/contract.db" METRICS_ADDR=off LOG_LEVEL=warn
  MASTER_ENCRYPTION_KEY="$("$py" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
  ARGON2_MEMORY_KIB=1024 ARGON2_ITERATIONS=1
  LOGIN_MAX_FAILURES=1000 LOGIN_MAX_FAILURES_PER_ADDRESS=100000
)
service() { (cd "$work" && env "${service_env[@]}" "$bin" "$@"); }

email=admin@contract.test
password="contract-$("$py" -c 'import secrets; print(secrets.token_hex(12))')"
printf '%s' "$password" | service create-admin --email "$email" --password-stdin >/dev/null
client="$(service clients create --name contract --scopes trading_accounts:credentials:read)"
(cd "$work" && exec env "${service_env[@]}" "$bin" serve >"$work/service.log" 2>&1) &
service_pid=$!
for _ in $(seq 1 300); do
  curl -sf -o /dev/null "$url/health" && break
  kill -0 "$service_pid" 2>/dev/null || { cat "$work/service.log" >&2; exit 1; }
  sleep 0.1
done

json_field() { "$py" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
bearer="$(curl -fsS "$url/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\"}" | json_field access_token)"
post() { curl -fsS "$url$1" -H "authorization: Bearer $bearer" -H 'content-type: application/json' -d "$2"; }
api_key="$(post /v1/api-keys '{"name":"contract"}' | json_field key)"
# Ids no link of the spec leads to (schemathesis.toml passes them to the operations that
# need them): a trading account of the admin's, a second user to add to it and to change
# as an admin, and a session of the admin's to revoke.
account_id="$(post /v1/trading-accounts '{"broker":"kite","label":"contract","broker_user_id":"CT0001",
  "credentials":{"api_key":"contract-key","api_secret":"contract-secret"}}' | json_field id)"
member_id="$(post /v1/auth/register "{\"email\":\"member@contract.test\",\"password\":\"$password\"}" | json_field id)"
post "/v1/trading-accounts/$account_id/members" '{"email":"member@contract.test","role":"viewer"}' >/dev/null
other_session="$(curl -fsS "$url/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\"}" | json_field access_token)"
session_id="$(curl -fsS "$url/v1/users/me/sessions" -H "authorization: Bearer $other_session" | "$py" -c \
  'import json, sys; print(next(s["id"] for s in json.load(sys.stdin)["sessions"] if s["current"]))')"

# The second pass: what ends the caller's session or identity.
second_pass=(
  "POST /v1/auth/logout"
  "POST /v1/auth/logout-all"
  "POST /v1/auth/password/reset"
  "POST /v1/users/me/password"
  "DELETE /v1/users/me/sessions/{id}"
  "POST /v1/users/me/mfa/totp/setup"
  "POST /v1/users/me/mfa/totp/enable"
  "POST /v1/users/me/mfa/totp/disable"
  "POST /v1/users/me/mfa/recovery-codes"
  "PATCH /v1/admin/users/{id}"
  "PUT /v1/admin/users/{id}/roles"
  "POST /v1/admin/keys/rotate"
)
include=() exclude=()
for name in "${second_pass[@]}"; do include+=(--include-name "$name"); exclude+=(--exclude-name "$name"); done

export CONTRACT_URL="$url" CONTRACT_EMAIL="$email" CONTRACT_PASSWORD="$password" CONTRACT_BEARER="$bearer" \
  CONTRACT_API_KEY="$api_key" CONTRACT_CLIENT_ID="$(sed -n 's/^client_id: //p' <<<"$client")" \
  CONTRACT_CLIENT_SECRET="$(sed -n 's/^client_secret: //p' <<<"$client")" \
  CONTRACT_ACCOUNT_ID="$account_id" CONTRACT_MEMBER_ID="$member_id" CONTRACT_SESSION_ID="$session_id"
st() {
  local pass="$1"; shift
  (cd "$work" && SCHEMATHESIS_HOOKS="$here/credentials.py" "$venv/bin/st" --config-file "$here/schemathesis.toml" \
    run "$work/openapi.json" --url "$url" --checks all --report junit --report-junit-path "$work/$pass.xml" --request-timeout 30 "$@")
}
# From a file: read from its URL, Schemathesis would leave out the operation serving it.
curl -fsS "$url/openapi.json" >"$work/openapi.json"
status=0
echo "contract: pass 1, every operation but the ${#second_pass[@]} that end the caller's session"
st pass1 "${exclude[@]}" || status=1
echo "contract: pass 2, those ${#second_pass[@]}, each request with a fresh login"
export CONTRACT_FRESH_LOGIN=1
st pass2 "${include[@]}" || status=1

echo "contract: started, set up and tested in $((SECONDS - started)) s"
# The operations tested must be the operations in the spec, exactly.
"$py" - "$work/openapi.json" "$work/pass1.xml" "$work/pass2.xml" <<'EOF' || status=1
import json, sys
import xml.etree.ElementTree as ET
spec = json.load(open(sys.argv[1]))
documented = {f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item
              if method in ("get", "put", "post", "delete", "options", "head", "patch", "trace")}
cases = [case for report in sys.argv[2:] for case in ET.parse(report).iter("testcase")]
tested = {case.get("name") for case in cases if case.get("name") != "Stateful tests"}
failed = sum(1 for case in cases if case.find("failure") is not None or case.find("error") is not None)
if tested != documented:
    print(f"contract: operations documented but not tested: {sorted(documented - tested)}")
    print(f"contract: operations tested but not documented: {sorted(tested - documented)}")
else:
    print(f"contract: the {len(tested)} operations tested are the {len(documented)} of the spec")
# Closes like a test runner: one test per operation (and stateful run) of the two passes.
print(f"contract: {len(cases) - failed} passed, {failed} failed")
sys.exit(1 if tested != documented or failed else 0)
EOF
if [ $status != 0 ]; then echo "contract: FAILED; the service's log (last lines):"; tail -n 30 "$work/service.log"; fi
exit $status
