#!/usr/bin/env bash
# Runs BackUp's whole test suite: linters, type and security checks, then pytest with real
# gpg, Redis, SQLite, PostgreSQL and Chromium. Installs what it needs first.
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
bootstrap_system python3 python3-venv gnupg redis-server postgresql chromium poppler-utils tor onionbalance mat2 \
    bubblewrap debootstrap systemd-container nftables iproute2 \
    ca-certificates procps
bootstrap_venv
cd "$ROOT"
echo "==> ruff";   "$VENV/bin/ruff" check . && "$VENV/bin/ruff" format --check .
echo "==> mypy";   "$VENV/bin/mypy" .
echo "==> bandit"; "$VENV/bin/bandit" -q -c pyproject.toml -r vault composition keys web_shared source_app \
    journalist_app workstation backupctl onion federation
echo "==> pytest"
# pytest exits 5 when no test ran: that fails this script too. Two workers (pytest-xdist):
# most tests wait on a server, gpg or a slow client, so the second core shortens the run.
# Each test file stays on one worker; tests/tor and tests/ansible run on one, in turn.
# A short base directory: gpg-agent's sockets live in GnuPG homes under it, and a unix
# socket path holds at most 107 bytes (xdist adds a popen-gwN level to every path).
basetemp="$(mktemp -d /tmp/bk-XXXXXX)"
status=0
"$VENV/bin/pytest" -n "${BACKUP_TEST_WORKERS:-2}" --dist loadscope --no-loadscope-reorder \
    --basetemp "$basetemp" --durations=30 "$@" || status=$?
if [ "$status" -eq 0 ]; then
    rm -rf "$basetemp"
else
    echo "pytest's files are kept in $basetemp"
fi
exit "$status"
