#!/usr/bin/env bash
# Runs the whole suite. PostgreSQL-backed tests get a throwaway server (see scripts/with-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest "$@"
