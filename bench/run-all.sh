#!/usr/bin/env bash
# Run every bench/bench_*.py (or only the names given: `bench/run-all.sh sim keygen`), each with a quick size,
# one header per benchmark. A failing benchmark is reported and the others still run; exit 1 if any failed.
#   BENCH_FULL=1      run each with its own (full-size) defaults instead of the quick sizes below
#   BENCH_TIMEOUT=S   per-benchmark time limit in seconds (default 900)
#   PYTHON=...        interpreter (default: .venv/bin/python if present, else python3)
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
timeout_s="${BENCH_TIMEOUT:-900}"
if ! [[ "$timeout_s" =~ ^[1-9][0-9]*$ ]]; then
    echo "run-all.sh: BENCH_TIMEOUT must be a positive number of seconds, got '$timeout_s'" >&2
    exit 2
fi

# quick sizes: the same figures as a full run, on less data (see bench/README.md for the full-size targets)
quick_args() {
    case "$1" in
        inventory) echo "--devices 2000" ;;
        list_record) echo "--rounds 5" ;;
        keygen) echo "--devices 50" ;;
        sim) echo "--commands 400" ;;
        apply) echo "--runs 1" ;;
        collect) echo "--devices 1000 --e2e 5000 --backlog 10000" ;;
        serve) echo "--devices 2000 --repeat 3" ;;
        *) echo "" ;;
    esac
}

scripts=()
if [[ $# -gt 0 ]]; then
    for name in "$@"; do
        name="${name#bench_}"; name="${name%.py}"
        if [[ ! -f "bench/bench_${name}.py" ]]; then
            echo "run-all.sh: no benchmark bench/bench_${name}.py" >&2
            exit 2
        fi
        scripts+=("bench/bench_${name}.py")
    done
else
    for script in bench/bench_*.py; do
        [[ -f "$script" ]] && scripts+=("$script")
    done
fi
if [[ ${#scripts[@]} -eq 0 ]]; then
    echo "run-all.sh: no bench/bench_*.py found" >&2
    exit 2
fi

failed=()
for script in "${scripts[@]}"; do
    name="$(basename "$script" .py)"
    name="${name#bench_}"
    args=()
    if [[ "${BENCH_FULL:-0}" != "1" ]]; then
        read -r -a args <<<"$(quick_args "$name")"
    fi
    echo
    echo "=== ${name}: ${PYTHON} ${script} ${args[*]:-}"
    start=$(date +%s.%N)
    timeout --kill-after=10 "$timeout_s" "$PYTHON" "$script" "${args[@]}"
    status=$?
    elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    if [[ $status -eq 0 ]]; then
        echo "=== ${name}: ok (${elapsed} s)"
    else
        [[ $status -eq 124 ]] && reason="timed out after ${timeout_s} s" || reason="exit status ${status}"
        echo "=== ${name}: FAILED (${reason}, ${elapsed} s)"
        failed+=("$name")
    fi
done

echo
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "benchmarks failed: ${failed[*]} (of ${#scripts[@]})"
    exit 1
fi
echo "all ${#scripts[@]} benchmarks ran"
