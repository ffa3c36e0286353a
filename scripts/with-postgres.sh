#!/usr/bin/env bash
# Run CMD... with a throwaway PostgreSQL server and CREDWARDEN_TEST_PG_URL pointing at it.
#
#   scripts/with-postgres.sh python -m pytest tests/inventory
#
# Installs the Debian `postgresql` package when initdb/pg_ctl are missing (needs root, as in CI), creates a
# cluster in a temp dir, listens on a unix socket only (no TCP port to collide with), runs CMD, and stops and
# removes the cluster on exit, whatever happens. initdb refuses to run as root: as root the cluster is owned by
# the `postgres` system user. Set CREDWARDEN_PG_KEEP=1 to keep the data directory for inspection.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
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
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "with-postgres: initdb/pg_ctl not found and not root; install the 'postgresql' package" >&2
        exit 1
    fi
    echo "with-postgres: installing the Debian 'postgresql' package..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    PG_BIN="$(find_pg_bin)" || { echo "with-postgres: PostgreSQL binaries still not found" >&2; exit 1; }
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/credwarden-pg.XXXXXX")"
DATA="$WORK/data"
SOCK="$WORK/sock"
LOG="$WORK/server.log"
mkdir -p "$SOCK"
chmod 755 "$WORK"

AS=()
if [[ "$(id -u)" -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    chown -R postgres "$WORK"
    AS=(runuser -u postgres --)
fi

cleanup() {
    local rc=$?
    "${AS[@]}" "$PG_BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
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

"${AS[@]}" "$PG_BIN/initdb" -D "$DATA" -U credwarden --auth=trust -E UTF8 --no-locale >"$WORK/initdb.log" 2>&1 || {
    cat "$WORK/initdb.log" >&2
    exit 1
}
# Throwaway cluster: durability is not the point, speed is (the kill tests rely on transactions, not fsync).
"${AS[@]}" "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start \
    -o "-c listen_addresses='' -c unix_socket_directories='$SOCK' -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off -c max_connections=100" >/dev/null || {
    cat "$LOG" >&2
    exit 1
}
"${AS[@]}" "$PG_BIN/createdb" -h "$SOCK" -U credwarden credwarden

export CREDWARDEN_TEST_PG_URL="postgresql+psycopg://credwarden@/credwarden?host=$SOCK"
echo "with-postgres: server ready, CREDWARDEN_TEST_PG_URL=$CREDWARDEN_TEST_PG_URL" >&2
set +e
"$@"
rc=$?
set -e
exit "$rc"
