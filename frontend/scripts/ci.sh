#!/usr/bin/env bash
# The frontend's checks, as `.ci/run` calls them on a clean clone: install from the lock
# file, lint, type check + production build, bundle budget, unit tests, and the browser
# walk against the real services (Debian's Chromium, installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "installing Debian's chromium for the browser tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

npm ci --no-audit --no-fund
npm run lint
npm run build
npm run size
npm test
# The four services of the walk: the debug binaries `cargo test --workspace` builds for its
# integration tests (same command, same features, so after .ci/run's test step this is a no-op).
(cd .. && cargo test --workspace --locked --no-run --quiet)
npm run test:e2e
