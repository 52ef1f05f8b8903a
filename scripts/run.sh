#!/usr/bin/env bash
# Runs BackUp on this machine: both apps on 127.0.0.1, published as onion services by a
# tor of its own, a private redis-server, SQLite, an RQ worker and a DEVELOPMENT
# submission key. Installs what it needs first (tor included; Debian's tor service is
# not started: policy-rc.d in bootstrap.sh).
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
bootstrap_system "${RUN_PACKAGES[@]}"
bootstrap_venv
cd "$ROOT"
exec "$VENV/bin/backupctl" run "$@"
