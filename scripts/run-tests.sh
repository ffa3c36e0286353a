#!/usr/bin/env bash
# Runs the whole suite. PostgreSQL-backed tests get a throwaway server (scripts/with-postgres.sh), MQTT tests a
# throwaway mosquitto broker (scripts/with-mosquitto.sh), the dashboard's browser tests Debian's chromium
# (scripts/with-chromium.sh).
# Set CREDWARDEN_TEST_PG_URL yourself to use an existing server instead; CREDWARDEN_NO_PG=1 skips PostgreSQL.
# Set CREDWARDEN_TEST_MQTT_URL yourself to use an existing broker; CREDWARDEN_NO_MQTT=1 skips the MQTT tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=(python -m pytest "$@")
if [[ -z "${CREDWARDEN_TEST_MQTT_URL:-}" && "${CREDWARDEN_NO_MQTT:-0}" != "1" ]]; then
    cmd=(bash scripts/with-mosquitto.sh "${cmd[@]}")
fi
if [[ -z "${CREDWARDEN_TEST_PG_URL:-}" && "${CREDWARDEN_NO_PG:-0}" != "1" ]]; then
    cmd=(bash scripts/with-postgres.sh "${cmd[@]}")
fi
exec bash scripts/with-chromium.sh "${cmd[@]}"
