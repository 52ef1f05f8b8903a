#!/usr/bin/env bash
# The air-gapped workstation's side of BackUp, installed without a network
# (docs/workstation.md, "Installing the workstation").
#
#   bash scripts/workstation.sh install
#       On a connected Debian 12 machine (development): WORKSTATION_PACKAGES, then the
#       project's venv, as scripts/run.sh does for the server.
#   bash scripts/workstation.sh bundle DIR [--no-debs]
#       On a connected Debian 12 machine of the workstation's architecture: fill DIR
#       with all the workstation needs (Python wheels checked against requirements.lock,
#       BackUp's own wheel, the Debian packages unless --no-debs, these scripts, and
#       SHA256SUMS). Carry DIR across on removable media.
#   bash DIR/scripts/workstation.sh offline-install [VENV]
#       On the workstation, offline: checks SHA256SUMS, installs the Debian packages
#       from DIR/debs that are missing (as root), then BackUp into VENV (default
#       ~/backup-workstation) with pip --no-index; nothing is fetched from anywhere.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/bootstrap.sh"

# The Debian packages the workstation needs: gpg for the submission key, mat2 (and the
# bubblewrap sandbox it runs its parsers in) for cleaned copies. The one list:
# docs/workstation.md quotes it (tests/unit/scripts/test_workstation_packages.py).
WORKSTATION_PACKAGES=(python3 python3-venv gnupg mat2 bubblewrap)

_debian_closure() {
    # Every package the list needs, recursively, without recommends; virtual names out.
    local names
    names="$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "$@" | grep -E '^[a-z0-9]' | sort -u)"
    # shellcheck disable=SC2086  # one name per word; a virtual name has no record
    { apt-cache show --no-all-versions $names 2>/dev/null || true; } |
        sed -n 's/^Package: //p' | sort -u
}

bundle() {
    local dir="${1:?usage: workstation.sh bundle DIR [--no-debs]}" debs=1
    [ "${2:-}" = "--no-debs" ] && debs=0
    [ -e "$dir" ] && { echo "$dir exists: give a new folder" >&2; exit 1; }
    bootstrap_venv
    mkdir -p "$dir/wheels" "$dir/scripts"
    dir="$(cd "$dir" && pwd)"
    echo "==> the workstation's requirements (from requirements.lock, hashes kept)"
    "$VENV/bin/python" "$ROOT/scripts/workstation_lock.py" "$ROOT/requirements.lock" \
        >"$dir/requirements.txt"
    echo "==> downloading the wheels (each checked against its pinned hash)"
    "$VENV/bin/pip" download -q --disable-pip-version-check --require-hashes --no-deps \
        -r "$dir/requirements.txt" -d "$dir/wheels"
    # A package published as source only (libhxl) is built into a wheel here, from the
    # source checked against the lock, and the wheel's hash is added to its entry: the
    # workstation then builds nothing and still checks every hash.
    for sdist in "$dir"/wheels/*.tar.gz "$dir"/wheels/*.zip; do
        [ -e "$sdist" ] || continue
        "$VENV/bin/pip" wheel -q --disable-pip-version-check --no-deps --no-build-isolation \
            -w "$dir/wheels" "$sdist"
        rm "$sdist"
    done
    "$VENV/bin/python" "$ROOT/scripts/workstation_lock.py" --hash-built \
        "$dir/requirements.txt" "$dir/wheels"
    echo "==> building BackUp's own wheel"
    local build
    build="$(mktemp -d)"
    # From a copy: building in the tree would leave build/ and egg-info behind.
    (cd "$ROOT" && tar -c --exclude=./.venv --exclude=./.git --exclude=./tests \
        --exclude=./instance --exclude='*.egg-info' --exclude=./build .) | tar -x -C "$build"
    "$VENV/bin/pip" wheel -q --disable-pip-version-check --no-deps --no-build-isolation \
        -w "$dir/wheels" "$build"
    rm -rf "$build"
    cp "$ROOT/scripts/workstation.sh" "$ROOT/scripts/bootstrap.sh" "$dir/scripts/"
    if [ "$debs" -eq 1 ]; then
        echo "==> downloading the Debian packages: ${WORKSTATION_PACKAGES[*]} and their dependencies"
        mkdir -p "$dir/debs"
        # shellcheck disable=SC2046  # one name per word
        (cd "$dir/debs" && apt-get download -q $(_debian_closure "${WORKSTATION_PACKAGES[@]}"))
    fi
    (cd "$dir" && find . -type f ! -name SHA256SUMS -print0 | sort -z |
        xargs -0 sha256sum >SHA256SUMS)
    echo "==> ready: carry $dir across whole. Its SHA256SUMS, to compare on the workstation:"
    sha256sum "$dir/SHA256SUMS" | cut -d' ' -f1
}

offline_install() {
    local dir venv="${1:-$HOME/backup-workstation}"
    dir="$(cd "$HERE/.." && pwd)"
    echo "==> checking the bundle against its SHA256SUMS"
    echo "    (compare: $(sha256sum "$dir/SHA256SUMS" | cut -d' ' -f1))"
    (cd "$dir" && sha256sum --quiet -c SHA256SUMS)
    local missing=()
    for pkg in "${WORKSTATION_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ -d "$dir/debs" ] || {
            echo "missing Debian packages: ${missing[*]}: install them from the Debian" \
                "installation media, or make the bundle without --no-debs" >&2
            exit 1
        }
        [ "$(id -u)" -eq 0 ] || { echo "run as root to install: ${missing[*]}" >&2; exit 1; }
        local wanted=()
        local pkg version have
        for deb in "$dir"/debs/*.deb; do
            # What is missing or older; never replace a newer package with the bundle's.
            pkg="$(dpkg-deb -f "$deb" Package)"
            version="$(dpkg-deb -f "$deb" Version)"
            have="$(dpkg-query -W -f='${Status} ${Version}' "$pkg" 2>/dev/null |
                sed -n 's/^install ok installed //p')"
            if [ -z "$have" ] || dpkg --compare-versions "$have" lt "$version"; then
                wanted+=("$deb")
            fi
        done
        echo "==> installing Debian packages from the bundle: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-download \
            --no-install-recommends "${wanted[@]}"
    fi
    echo "==> installing BackUp into $venv (pip --no-index: nothing is downloaded)"
    "$(_python)" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-index \
        --find-links "$dir/wheels" --require-hashes -r "$dir/requirements.txt"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-index --no-deps \
        "$dir"/wheels/backup_dropbox-*.whl
    "$venv/bin/backupctl" workstation --help >/dev/null
    echo "==> done: $venv/bin/backupctl workstation --help"
}

case "${1:-}" in
    install)
        bootstrap_system "${WORKSTATION_PACKAGES[@]}"
        bootstrap_venv
        echo "==> done: $VENV/bin/backupctl workstation --help"
        ;;
    bundle) shift; bundle "$@" ;;
    offline-install) shift; offline_install "$@" ;;
    *)
        sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
