#!/usr/bin/env bash
# `make demo`: start the simulated modem on a pty, then run info, list, write, list, read against it.
# Needs `credwarden` and the venv's python on PATH (the Makefile arranges that).
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO=.demo
STATE="$DEMO/state.json"
CA="$DEMO/ca/ca.pem"  # written by LocalCA.generate below
mkdir -p "$DEMO"
# The demo keeps its inventory and write journal to itself, never the user's.
export CREDWARDEN_DB="$PWD/$DEMO/inventory.db" CREDWARDEN_STATE_DIR="$PWD/$DEMO/state"
rm -f "$CREDWARDEN_DB"
rm -f "$STATE" "$DEMO/sim.fifo"

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

# A demo root CA (self-signed, EC P-256), generated fresh by credwarden's own development CA.
python3 -c 'import sys; from credwarden.creds.ca import LocalCA; LocalCA.generate(sys.argv[1], sys.argv[2], validity_days=365, overwrite=True)' \
    "$DEMO/ca" "credwarden demo root CA"

# The simulator prints the device path as its first stdout line; read it through a fifo (no polling).
mkfifo "$DEMO/sim.fifo"
credwarden sim --pty --state "$STATE" >"$DEMO/sim.fifo" 2>"$DEMO/sim.err" &
SIM_PID=$!
exec 3<"$DEMO/sim.fifo"
cleanup() {
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
    exec 3<&- || true
    rm -f "$DEMO/sim.fifo"
}
trap cleanup EXIT

if ! read -r -t 20 PORT <&3 || [ -z "$PORT" ]; then
    echo "demo: the simulator did not start:" >&2
    cat "$DEMO/sim.err" >&2
    exit 1
fi
cat <&3 >"$DEMO/sim.out" &   # keep draining the simulator's stdout
echo "simulated nRF9160 on $PORT"

say credwarden --port "$PORT" info
credwarden --port "$PORT" info
say credwarden --port "$PORT" list
credwarden --port "$PORT" list
say credwarden --port "$PORT" write 1001 root-ca "$CA"
credwarden --port "$PORT" write 1001 root-ca "$CA"
say credwarden --port "$PORT" list
credwarden --port "$PORT" list
say credwarden --port "$PORT" read 1001 root-ca
credwarden --port "$PORT" read 1001 root-ca
say credwarden inventory devices
credwarden inventory devices
printf '\ndemo done; the simulated modem state is in %s\n' "$STATE"
