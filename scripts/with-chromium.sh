#!/usr/bin/env bash
# Run CMD... with Debian's chromium available for the dashboard's browser tests (Playwright drives it through
# executable_path; browser downloads are not possible). Installs the `chromium` package when /usr/bin/chromium is
# missing and we are root (as in CI). If it cannot be installed, CMD still runs: the browser tests then skip with
# the reason, except under CI=true where they fail.
#
#   scripts/with-chromium.sh python -m pytest tests/web
set -uo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
CHROMIUM="${CREDWARDEN_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
    source "$(dirname "$0")/lib/debian.sh"
    ensure_debian_packages with-chromium chromium \
        || echo "with-chromium: no chromium; the browser tests will say so" >&2
fi
exec "$@"
