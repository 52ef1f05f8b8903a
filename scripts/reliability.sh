#!/usr/bin/env bash
# The reliability report: every field-conditions scenario (faults, paced uploads, floods,
# hostile input) at full size, then docs/reliability.md with the figures and the machine.
# Arguments go to pytest, e.g. `bash scripts/reliability.sh -k redis`.
# Runs as root (the disk-full scenario mounts a tmpfs); takes 15-25 minutes.
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
bootstrap_system python3 python3-venv gnupg redis-server postgresql tor ca-certificates procps
bootstrap_venv
cd "$ROOT"
exec "$VENV/bin/python" -m bench.reliability "$@"
