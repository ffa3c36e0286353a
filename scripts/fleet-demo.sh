#!/usr/bin/env bash
# `make fleet-demo`: the whole field loop on one machine. Run under scripts/with-mosquitto.sh (the Makefile does):
# three simulated nRF9160s are provisioned from examples/manifest.toml ("the factory"), then report their
# credential store over MQTT every second ("the field"), `credwarden collect` watches them, and one device's
# application rewrites another sec_tag, which (a simulated fault) wipes tag 42: the collector raises `vanished`
# alerts after its confirmation count, and the TLS failure the device then reports, explained. The demo ends with
# the URL of `credwarden serve` over the demo's inventory (kept serving until Ctrl-C when run from a terminal).
# Needs `credwarden` on PATH and CREDWARDEN_TEST_MQTT_URL (both arranged by the Makefile).
set -euo pipefail
cd "$(dirname "$0")/.."

BROKER="${CREDWARDEN_TEST_MQTT_URL:?run me under scripts/with-mosquitto.sh (make fleet-demo does)}"
DEMO="$PWD/.fleet-demo"
rm -rf "$DEMO"
mkdir -p "$DEMO"
# the demo keeps its inventory, journals and collector files to itself, never the user's
export CREDWARDEN_DB="$DEMO/inventory.db" CREDWARDEN_STATE_DIR="$DEMO/state"
MANIFEST=examples/manifest.toml
HTTP_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
IMEIS=(352656100367872 352656100367880 352656100367898)
PIDS=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# start_sim N [ARGS...]: a simulated modem on a pty; its path goes to $DEMO/simN.port
start_sim() {
    local n=$1
    shift
    credwarden sim --pty --fast --state "$DEMO/dev$n.json" --imei "${IMEIS[$n]}" "$@" \
        >"$DEMO/sim$n.out" 2>"$DEMO/sim$n.err" &
    PIDS+=($!)
    local i
    for i in $(seq 1 200); do
        if [[ -s "$DEMO/sim$n.out" ]]; then
            head -n1 "$DEMO/sim$n.out" >"$DEMO/sim$n.port"
            return 0
        fi
        sleep 0.05
    done
    echo "fleet-demo: simulator $n did not start:" >&2
    cat "$DEMO/sim$n.err" >&2
    return 1
}

stop_sims() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    PIDS=()
}

say "factory: provision three simulated devices from $MANIFEST"
for n in 0 1 2; do
    start_sim "$n"
    credwarden apply "$MANIFEST" --port "$(cat "$DEMO/sim$n.port")" >"$DEMO/apply$n.out"
    echo "device ${IMEIS[$n]}: $(tail -n1 "$DEMO/apply$n.out")"
done
stop_sims

say "collector: credwarden collect --mqtt $BROKER --client-id fleet-demo --manifest $MANIFEST --http 127.0.0.1:$HTTP_PORT"
credwarden collect --mqtt "$BROKER" --client-id fleet-demo --manifest "$MANIFEST" --http "127.0.0.1:$HTTP_PORT" \
    --confirm 2 --interval 1 --silent-after 30 >"$DEMO/collector.out" 2>"$DEMO/collector.err" &
COLLECTOR=$!
PIDS+=("$COLLECTOR")
for i in $(seq 1 200); do grep -q "subscribed to" "$DEMO/collector.err" 2>/dev/null && break; sleep 0.05; done
cat "$DEMO/collector.err"

say "field: the devices report every second (device ${IMEIS[2]} has the wipe fault armed on sec_tag 42)"
start_sim 0 --report-mqtt "$BROKER" --report-interval 1 --report-tls-tag 42
start_sim 1 --report-mqtt "$BROKER" --report-interval 1 --report-tls-tag 42
start_sim 2 --report-mqtt "$BROKER" --report-interval 1 --report-tls-tag 42 --wipe-tag 42 --wipe-after 1
sleep 4
credwarden inventory devices

say "device ${IMEIS[2]}: its application rewrites sec_tag 7 at boot; the modem loses sec_tag 42"
credwarden --port "$(cat "$DEMO/sim2.port")" write 7 root-ca examples/certs/ca.pem
credwarden --port "$(cat "$DEMO/sim2.port")" list --no-record

say "collector alerts (confirmed over 2 consecutive reports)"
for i in $(seq 1 300); do
    grep -q "ALERT tls-error" "$DEMO/collector.out" 2>/dev/null && break
    sleep 0.1
done
sleep 1
cat "$DEMO/collector.out"
grep -q "ALERT vanished ${IMEIS[2]} sec_tag 42" "$DEMO/collector.out" || {
    echo "fleet-demo: no vanished alert; collector log:" >&2
    cat "$DEMO/collector.err" >&2
    exit 1
}

say "fleet metrics (curl http://127.0.0.1:$HTTP_PORT/metrics)"
sleep 6  # the fleet gauge is refreshed every 5 s
python3 -c 'import sys, urllib.request; print("\n".join(l for l in urllib.request.urlopen(sys.argv[1]).read().decode().splitlines() if l.startswith(("credwarden_fleet_devices", "credwarden_alerts_total", "credwarden_reports_total"))))' \
    "http://127.0.0.1:$HTTP_PORT/metrics"

say "dashboard: credwarden serve --manifest $MANIFEST (read-only over the demo's inventory)"
credwarden serve --manifest "$MANIFEST" --port 0 --json >"$DEMO/serve.out" 2>"$DEMO/serve.err" &
SERVE=$!
PIDS+=("$SERVE")
for i in $(seq 1 200); do [[ -s "$DEMO/serve.out" ]] && break; sleep 0.05; done
DASHBOARD="$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$DEMO/serve.out")" || {
    echo "fleet-demo: the dashboard did not start:" >&2
    cat "$DEMO/serve.err" >&2
    exit 1
}
# the device that lost sec_tag 42 must be in the needs-action queue
python3 - "$DASHBOARD" "${IMEIS[2]}" <<'PY'
import json, sys, urllib.request
base, imei = sys.argv[1], sys.argv[2]
fleet = json.load(urllib.request.urlopen(base + "api/fleet"))
groups = ", ".join(f"{g['group']} {g['count']}" for g in fleet["groups"] if g["count"])
print(f"{fleet['total_devices']} devices: {groups}")
lost = [i for i in fleet["queue"]["items"] if i["imei"] == imei]
for item in lost:
    print(f"needs action: {imei} {item['kind']} sec_tag {item['sec_tag']} {item['type_name']} -> {item['repair']}")
if not any(i["kind"] in ("vanished", "missing") for i in lost):
    sys.exit(f"fleet-demo: {imei} is not in the dashboard's queue")
PY

say "stopping"
kill -TERM "$COLLECTOR"
wait "$COLLECTOR" || true
tail -n1 "$DEMO/collector.err"
printf '\nfleet demo done; inventory: %s (credwarden inventory history %s --db %s)\n' \
    "$CREDWARDEN_DB" "${IMEIS[2]}" "$CREDWARDEN_DB"
printf '\ndashboard of the simulated fleet: %s   (the device that lost a credential: %sdevices/%s)\n' \
    "$DASHBOARD" "$DASHBOARD" "${IMEIS[2]}"
if [[ -t 0 && "${FLEET_DEMO_EXIT:-0}" != "1" ]]; then
    printf 'open it in a browser; Ctrl-C stops the dashboard and the simulated devices\n'
    wait "$SERVE" || true
else
    printf 'not a terminal: the dashboard stops with the demo; reopen it with:\n  credwarden serve --db %s --manifest %s\n' \
        "$CREDWARDEN_DB" "$MANIFEST"
fi
