#!/usr/bin/env bash
# Runs BackUp on this machine: both apps on 127.0.0.1, a private redis-server, SQLite,
# an RQ worker and a DEVELOPMENT submission key. Installs what it needs first.
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
bootstrap_system python3 python3-venv gnupg redis-server ca-certificates
bootstrap_venv
cd "$ROOT"
exec "$VENV/bin/backupctl" run "$@"
