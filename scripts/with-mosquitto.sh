#!/usr/bin/env bash
# Run CMD... with a throwaway mosquitto MQTT broker and CREDWARDEN_TEST_MQTT_URL pointing at it.
#
#   scripts/with-mosquitto.sh python -m pytest tests/collect
#
# Installs the Debian `mosquitto` package when the broker is missing (needs root, as in CI), writes a temporary
# config (a free loopback port, anonymous access on 127.0.0.1 only, persistence in a temp dir so sessions and
# queued QoS 1 messages survive a broker restart, queues large enough for backlog tests), runs CMD, and stops
# the broker and removes its files on exit, whatever happens. Also exported: CREDWARDEN_TEST_MQTT_CONF (the
# config file), CREDWARDEN_TEST_MQTT_BIN (the broker binary) and CREDWARDEN_TEST_MQTT_PIDFILE, so tests can
# stop and restart the broker on the same port. Set CREDWARDEN_MQTT_KEEP=1 to keep the directory for inspection.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

find_mosquitto() {
    local candidate
    for candidate in "$(command -v mosquitto 2>/dev/null || true)" /usr/sbin/mosquitto /usr/local/sbin/mosquitto; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if ! BROKER="$(find_mosquitto)"; then
    source "$(dirname "$0")/lib/debian.sh"
    ensure_debian_packages with-mosquitto mosquitto || exit 1
    BROKER="$(find_mosquitto)" || { echo "with-mosquitto: mosquitto still not found" >&2; exit 1; }
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/credwarden-mqtt.XXXXXX")"
chmod 755 "$WORK"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
CONF="$WORK/mosquitto.conf"
cat >"$CONF" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $WORK/
autosave_interval 1
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 0
max_packet_size 1048576
persistent_client_expiration 1d
pid_file $WORK/mosquitto.pid
log_dest file $WORK/broker.log
log_type error
log_type warning
log_type notice
CONF
AS=()
if [[ "$(id -u)" -eq 0 ]]; then
    # mosquitto drops root privileges to the `mosquitto` user (created by the package): let it write here
    if id mosquitto >/dev/null 2>&1; then
        chown -R mosquitto "$WORK"
    else
        echo "user root" >>"$CONF"
    fi
fi

start_broker() {
    "$BROKER" -c "$CONF" -d
    local i
    for i in $(seq 1 100); do
        if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $PORT)))"; then
            return 0
        fi
        sleep 0.05
    done
    echo "with-mosquitto: the broker did not start; its log:" >&2
    cat "$WORK/broker.log" >&2 || true
    return 1
}

stop_broker() {
    local pid=""
    [[ -f "$WORK/mosquitto.pid" ]] && pid="$(cat "$WORK/mosquitto.pid" 2>/dev/null || true)"
    if [[ -n "$pid" ]]; then
        kill $pid 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
        kill -9 $pid 2>/dev/null || true
    fi
}

cleanup() {
    local rc=$?
    stop_broker
    if [[ "${CREDWARDEN_MQTT_KEEP:-0}" == "1" ]]; then
        echo "with-mosquitto: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_broker
export CREDWARDEN_TEST_MQTT_URL="mqtt://127.0.0.1:$PORT"
export CREDWARDEN_TEST_MQTT_CONF="$CONF"
export CREDWARDEN_TEST_MQTT_BIN="$BROKER"
export CREDWARDEN_TEST_MQTT_PIDFILE="$WORK/mosquitto.pid"
echo "with-mosquitto: broker ready, CREDWARDEN_TEST_MQTT_URL=$CREDWARDEN_TEST_MQTT_URL" >&2
set +e
"$@"
rc=$?
set -e
exit "$rc"
