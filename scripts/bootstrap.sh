# Sourced by scripts/run.sh and scripts/test.sh: installs what BackUp needs on Debian 12.
# Usage: bootstrap_system PACKAGE...; bootstrap_venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

# The Debian packages scripts/run.sh installs: the one list (docs/admin.md, "Run it",
# quotes it; tests/unit/scripts/test_run_packages.py keeps the two the same).
RUN_PACKAGES=(python3 python3-venv gnupg redis-server ca-certificates tor)

bootstrap_system() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "need root to install: ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    echo "==> installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    # Packages must not start services on install: BackUp starts its own, privately.
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    $sudo rm -f /usr/sbin/policy-rc.d
}

_python() {
    # The first Python >= 3.11 on PATH (Debian 12's python3 is 3.11).
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "no Python >= 3.11 with venv found" >&2
    return 1
}

bootstrap_venv() {
    local stamp="$VENV/.lock-sha256"
    local want
    # The editable install records the top-level packages it found: a new one needs a
    # reinstall too, so their list is part of the stamp.
    want="$( (cat "$ROOT/requirements.lock" "$ROOT/pyproject.toml"; cd "$ROOT" && ls -d */__init__.py) |
        sha256sum | cut -d' ' -f1)"
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> creating $VENV"
        "$(_python)" -m venv "$VENV"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "==> installing Python packages (requirements.lock, hashes checked)"
        "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes \
            -r "$ROOT/requirements.lock"
        "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation \
            -e "$ROOT"
        echo "$want" >"$stamp"
    fi
}
