# Shared by the scripts/with-*.sh helpers: install Debian packages when a program the tests need is missing.
# Source it, then: ensure_debian_packages LABEL PACKAGE... (one `apt-get update`, one install; needs root).

ensure_debian_packages() {
    local label=$1
    shift
    if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "$label: not found, and cannot install it here (needs root and apt-get): apt-get install $*" >&2
        return 1
    fi
    echo "$label: installing the Debian package(s) $*..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || true
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >&2
}
