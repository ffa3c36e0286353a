#!/usr/bin/env bash
# `make demo`: the story of credwarden against a simulated nRF9160 on a pty (realistic delays), in well under a
# minute: plan and apply a manifest, a re-apply with nothing to do, a credential that vanishes (the simulator's
# wipe fault, as in the field reports of disappearing credentials), doctor and audit finding it, apply repairing
# it, and the inventory history showing before and after.
#
# Every step says in one line what it shows, runs one credwarden command and checks its exit code, so the demo
# also fails loudly when the story stops being true. Needs `credwarden` and the venv's python on PATH (the
# Makefile arranges that). Everything it creates lives in .demo/ (simulator state and log, inventory, write
# journal); the manifest and its TEST-ONLY credentials are the ones in examples/.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO=.demo
MANIFEST=examples/manifest.toml
WIPED_TAG=42 # the sec_tag that vanishes
rm -rf "$DEMO"
mkdir -p "$DEMO"
# The demo keeps its inventory and write journal to itself, never the user's; no CLI setting leaks in.
export CREDWARDEN_DB="$PWD/$DEMO/inventory.db" CREDWARDEN_STATE_DIR="$PWD/$DEMO/state"
unset CREDWARDEN_PORT CREDWARDEN_MODE CREDWARDEN_BAUD CREDWARDEN_TIMEOUT CREDWARDEN_FLOW_CONTROL CREDWARDEN_STATION
STARTED=$(date +%s.%N)

# The board: online (CFUN=1) like a device in the field, with the defect of the field reports: sec_tag 42 is
# silently erased after 3 NVM writes to other sec_tags. The simulator prints its device path first; read it
# through a fifo (no polling).
mkfifo "$DEMO/sim.fifo"
credwarden sim --pty --state "$DEMO/board.json" --log "$DEMO/sim-log.jsonl" --boot-cfun 1 \
    --wipe-tag "$WIPED_TAG" --wipe-after 3 >"$DEMO/sim.fifo" 2>"$DEMO/sim.err" &
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
cat <&3 >"$DEMO/sim.out" & # keep draining the simulator's stdout
export CREDWARDEN_PORT="$PORT"

if [ -t 1 ]; then # colours only on a terminal
    HEAD=$'\033[1;36m' CMD=$'\033[1m' DIM=$'\033[2m' OFF=$'\033[0m'
else
    HEAD='' CMD='' DIM='' OFF=''
fi
STEP=0
MEANING=([0]="ok" [1]="findings with errors" [6]="not in the state the manifest asks for" [9]="changes pending")
# step EXPECTED_EXIT "what this step shows" credwarden ARGS...
step() {
    local expected=$1 what=$2 code=0
    shift 2
    STEP=$((STEP + 1))
    printf '\n%s%d. %s%s\n%s$ %s%s\n' "$HEAD" "$STEP" "$what" "$OFF" "$CMD" "$*" "$OFF"
    "$@" || code=$?
    if [ "$code" -ne 0 ]; then
        printf '%s(exit %d: %s)%s\n' "$DIM" "$code" "${MEANING[$code]:-see README, Exit codes}" "$OFF"
    fi
    if [ "$code" -ne "$expected" ]; then
        printf 'demo: step %d exited %d, expected %d\n' "$STEP" "$code" "$expected" >&2
        exit 1
    fi
}

printf 'simulated nRF9160 (mfw 1.3.5, realistic delays, online) on %s; credwarden --port comes from CREDWARDEN_PORT\n' "$PORT"
IMEI=$(credwarden info --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["imei"])')

step 0 "The board: its identity and state (CFUN=1: online, as in the field)." \
    credwarden info
step 9 "What the manifest asks for and what apply would change: all five entries are missing (exit 9)." \
    credwarden plan "$MANIFEST"
step 0 "apply writes what differs (offline only for the writes, CFUN=1 restored) and proves it by the digests." \
    credwarden apply "$MANIFEST"
step 0 "Applying again has nothing to do: zero writes, the modem never leaves CFUN=1." \
    credwarden apply "$MANIFEST"
printf 'demo-application\n' >"$DEMO/app-identity.txt"
step 0 "Months later another tool stores an unrelated entry; on this board that write silently erases sec_tag $WIPED_TAG." \
    credwarden write 44 psk-identity "$DEMO/app-identity.txt"
step 0 "The store now lacks sec_tag $WIPED_TAG and nothing reported an error (this list is recorded in the inventory)." \
    credwarden list
step 1 "doctor, read-only, compares the board with the manifest and says what is wrong and how to fix it." \
    credwarden doctor "$MANIFEST"
step 6 "audit checks the latest inventory snapshot against the manifest: no device needed, works for a fleet." \
    credwarden audit "$MANIFEST" --from-inventory "$IMEI"
step 0 "apply repairs exactly what vanished (the three entries of sec_tag $WIPED_TAG) and verifies them." \
    credwarden apply "$MANIFEST"
step 0 "The inventory history: each apply run and the store it left, the list where sec_tag $WIPED_TAG had vanished (-3), the repair (+3)." \
    credwarden inventory history "$IMEI"

ENDED=$(date +%s.%N)
printf '\n%sdemo done in %.1f s%s; board state, simulator log, inventory and journal are in %s/\n' \
    "$CMD" "$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$STARTED" "$ENDED")" "$OFF" "$DEMO"
