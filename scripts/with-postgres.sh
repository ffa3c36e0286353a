#!/usr/bin/env bash
# Run CMD... with a throwaway PostgreSQL server and CREDWARDEN_TEST_PG_URL pointing at it.
#
#   scripts/with-postgres.sh [--durable | --also-durable] CMD [ARGS...]
#   scripts/with-postgres.sh python -m pytest tests/inventory
#   scripts/with-postgres.sh --also-durable python bench/bench_inventory.py
#
# Installs the Debian `postgresql` package when initdb/pg_ctl are missing (needs root, as in CI), creates a
# cluster in a temp dir, listens on a unix socket only (no TCP port to collide with), runs CMD, and stops and
# removes the cluster(s) on exit, whatever happens. initdb refuses to run as root: as root the cluster is owned
# by the `postgres` system user. Set CREDWARDEN_PG_KEEP=1 to keep the data directory for inspection.
#
# Settings: by default the server trades durability for speed (fsync, synchronous_commit and full_page_writes
# off: the tests rely on transactions, not on surviving a power cut). `--durable` starts it with PostgreSQL's
# durable defaults instead (all three on). `--also-durable` keeps the fast server and starts a second, durable
# one beside it, exported as CREDWARDEN_TEST_PG_DURABLE_URL (the inventory benchmark prints both).
set -euo pipefail

MODE=fast
case "${1:-}" in
    --durable) MODE=durable; shift ;;
    --also-durable) MODE=both; shift ;;
esac
if [[ $# -eq 0 ]]; then
    echo "usage: $0 [--durable | --also-durable] CMD [ARGS...]" >&2
    exit 2
fi

find_pg_bin() {
    local dir
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/pg_ctl" && -x "$dir/initdb" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

if ! PG_BIN="$(find_pg_bin)"; then
    source "$(dirname "$0")/lib/debian.sh"
    ensure_debian_packages with-postgres postgresql || exit 1
    PG_BIN="$(find_pg_bin)" || { echo "with-postgres: PostgreSQL binaries still not found" >&2; exit 1; }
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/credwarden-pg.XXXXXX")"
chmod 755 "$WORK"

AS=()
if [[ "$(id -u)" -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    chown -R postgres "$WORK"
    AS=(runuser -u postgres --)
fi

STARTED=()
cleanup() {
    local rc=$?
    local data
    for data in "${STARTED[@]}"; do
        "${AS[@]}" "$PG_BIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    done
    if [[ "${CREDWARDEN_PG_KEEP:-0}" == "1" ]]; then
        echo "with-postgres: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_cluster NAME SETTINGS: a cluster in $WORK/NAME listening on $WORK/NAME/sock; its URL goes to $URL.
# (Not run in a subshell: the cleanup must learn about every cluster started.)
start_cluster() {
    local name=$1 settings=$2
    local dir="$WORK/$name"
    "${AS[@]}" mkdir -p "$dir/sock"
    "${AS[@]}" "$PG_BIN/initdb" -D "$dir/data" -U credwarden --auth=trust -E UTF8 --no-locale >"$WORK/$name-initdb.log" 2>&1 || {
        cat "$WORK/$name-initdb.log" >&2
        return 1
    }
    STARTED+=("$dir/data")
    "${AS[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir/sock' -c max_connections=100 $settings" \
        >/dev/null || {
        cat "$dir/server.log" >&2
        return 1
    }
    "${AS[@]}" "$PG_BIN/createdb" -h "$dir/sock" -U credwarden credwarden
    URL="postgresql+psycopg://credwarden@/credwarden?host=$dir/sock"
}

FAST_SETTINGS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
DURABLE_SETTINGS="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
URL=""
case "$MODE" in
    fast | durable)
        if [[ "$MODE" == fast ]]; then start_cluster fast "$FAST_SETTINGS"; else start_cluster durable "$DURABLE_SETTINGS"; fi
        CREDWARDEN_TEST_PG_URL="$URL"
        ;;
    both)
        start_cluster fast "$FAST_SETTINGS"
        CREDWARDEN_TEST_PG_URL="$URL"
        start_cluster durable "$DURABLE_SETTINGS"
        CREDWARDEN_TEST_PG_DURABLE_URL="$URL"
        export CREDWARDEN_TEST_PG_DURABLE_URL
        echo "with-postgres: durable server ready, CREDWARDEN_TEST_PG_DURABLE_URL=$CREDWARDEN_TEST_PG_DURABLE_URL" >&2
        ;;
esac
export CREDWARDEN_TEST_PG_URL
echo "with-postgres: server ready ($MODE), CREDWARDEN_TEST_PG_URL=$CREDWARDEN_TEST_PG_URL" >&2
set +e
"$@"
rc=$?
set -e
exit "$rc"
