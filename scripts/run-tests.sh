#!/usr/bin/env bash
# Runs the whole suite. PostgreSQL-backed tests get a throwaway server (see scripts/with-postgres.sh); the
# dashboard's browser tests get Debian's chromium (see scripts/with-chromium.sh).
# Set CREDWARDEN_TEST_PG_URL yourself to use an existing server instead; CREDWARDEN_NO_PG=1 skips PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${CREDWARDEN_TEST_PG_URL:-}" || "${CREDWARDEN_NO_PG:-0}" == "1" ]]; then
    exec bash scripts/with-chromium.sh python -m pytest "$@"
fi
exec bash scripts/with-chromium.sh bash scripts/with-postgres.sh python -m pytest "$@"
