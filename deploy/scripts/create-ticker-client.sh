#!/bin/sh
# Registers the ticker's service client once (user-service clients create) and leaves its
# id and secret, one value per file, in $TICKER_CLIENT_DIR for the ticker's
# SERVICE_CLIENT_ID_FILE / SERVICE_CLIENT_SECRET_FILE. Run with user-service's own
# environment (DATABASE_URL, MASTER_ENCRYPTION_KEY, ...). Idempotent: an existing pair
# is kept. The secret is never printed.
set -eu
dir=${TICKER_CLIENT_DIR:-/var/lib/authgate/ticker-client}
scopes=${TICKER_CLIENT_SCOPES:-trading_accounts:credentials:read}
if [ -s "$dir/client_id" ] && [ -s "$dir/client_secret" ]; then
  echo "ticker client $(cat "$dir/client_id") already registered"
  exit 0
fi
umask 077
out=$(user-service clients create --name ticker --scopes "$scopes")
printf '%s\n' "$out" | sed -n 's/^client_id: //p' > "$dir/client_id.tmp"
printf '%s\n' "$out" | sed -n 's/^client_secret: //p' > "$dir/client_secret.tmp"
if [ ! -s "$dir/client_id.tmp" ] || [ ! -s "$dir/client_secret.tmp" ]; then
  rm -f "$dir/client_id.tmp" "$dir/client_secret.tmp"
  echo "user-service clients create printed no client_id/client_secret" >&2
  exit 1
fi
mv "$dir/client_secret.tmp" "$dir/client_secret"
mv "$dir/client_id.tmp" "$dir/client_id"
echo "registered ticker client $(cat "$dir/client_id") with scopes $scopes"
