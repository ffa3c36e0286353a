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
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "with-chromium: installing Debian's 'chromium' package..." >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || true
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >&2 \
            || echo "with-chromium: could not install chromium; browser tests will report it" >&2
    else
        echo "with-chromium: $CHROMIUM missing and not root; install Debian's 'chromium' package" >&2
    fi
fi
exec "$@"
