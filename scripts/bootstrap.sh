# Sourced by scripts/run.sh and scripts/test.sh: installs what BackUp needs on Debian 12.
# Usage: bootstrap_system PACKAGE...; bootstrap_venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
# Debian's hook that tells maintainer scripts whether they may start services.
POLICY_RC_D="${POLICY_RC_D:-/usr/sbin/policy-rc.d}"
_BOOTSTRAP_STARTED=$SECONDS

# One line per step, with the time since the script started: quiet installs otherwise
# show nothing for minutes.
_step() {
    local elapsed=$((SECONDS - _BOOTSTRAP_STARTED))
    printf '==> [%dm%02ds] %s\n' $((elapsed / 60)) $((elapsed % 60)) "$*"
}

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
    _step "installing Debian packages: ${missing[*]}"
    # A subshell: its traps put back the policy-rc.d that was there before (or none),
    # whichever way the install ends (a failed package, Ctrl-C), and stay out of the
    # scripts that source this file.
    (
        set -euo pipefail
        local saved="$POLICY_RC_D.bootstrap-saved" log
        if [ -e "$saved" ] || [ -L "$saved" ]; then
            echo "$saved exists: an earlier bootstrap was cut off before it could put it" \
                "back. It is the policy-rc.d that was there before: move it back to" \
                "$POLICY_RC_D (or delete it if that is ours: 'exit 101'), then run this again." >&2
            exit 1
        fi
        log="$(mktemp)"
        restore() {
            $sudo rm -f "$POLICY_RC_D"
            if [ -e "$saved" ] || [ -L "$saved" ]; then
                $sudo mv -f "$saved" "$POLICY_RC_D"
            fi
            rm -f "$log"
        }
        trap restore EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        if [ -e "$POLICY_RC_D" ] || [ -L "$POLICY_RC_D" ]; then
            $sudo mv "$POLICY_RC_D" "$saved"
        fi
        # Packages must not start services on install: BackUp starts its own, privately.
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$POLICY_RC_D" >/dev/null
        $sudo chmod +x "$POLICY_RC_D"
        _step "apt-get update"
        $sudo apt-get update -qq
        local count=0
        for pkg in "${missing[@]}"; do
            count=$((count + 1))
            _step "installing $pkg ($count/${#missing[@]})"
            if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
                --no-install-recommends "$pkg" >"$log" 2>&1; then
                tail -n 40 "$log" >&2
                echo "apt-get install $pkg failed" >&2
                exit 1
            fi
        done
    )
    _step "Debian packages installed"
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
        _step "creating $VENV"
        "$(_python)" -m venv "$VENV"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        _step "installing Python packages (requirements.lock, hashes checked)"
        "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes \
            -r "$ROOT/requirements.lock"
        "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation \
            -e "$ROOT"
        echo "$want" >"$stamp"
        _step "Python packages installed"
    fi
}
