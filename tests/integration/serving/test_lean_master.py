"""The gunicorn master of `backupctl serve source`, as `backupctl run` starts it, holds
neither the app nor its stack: its workers load them (backupctl/cli.py). Seen from
outside, in /proc/PID/maps: the native parts of the app's libraries are mapped in every
worker and in no master."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from tests.integration.serving.conftest import Product
from tests.support.product import descendants
from web_shared.serving import SOURCE_POLICY

# Native extensions the source app loads when its worker builds it (SQLAlchemy's
# compiled parts, cryptography's bindings for the sealed cookie, argon2's bindings).
_APP_LIBRARIES = re.compile(
    r"/(sqlalchemy/\S+_cy\.\S+\.so|cryptography/hazmat/bindings/_rust\S*\.so"
    r"|_argon2_cffi_bindings/\S+\.so)$",
    re.MULTILINE,
)


def _mapped(pid: int) -> set[str]:
    return set(_APP_LIBRARIES.findall(Path(f"/proc/{pid}/maps").read_text()))


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_the_source_master_maps_none_of_what_its_one_worker_loads(product: Product) -> None:
    assert requests.get(product.url + "/", timeout=10).status_code == 200
    serving = [
        pid
        for pid in descendants(product.run_pid)
        if b"backupctl serve source"
        in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    ]
    masters = [pid for pid in serving if _parent(pid) not in serving]
    workers = [pid for pid in serving if _parent(pid) in serving]
    assert len(masters) == 1
    assert len(workers) == SOURCE_POLICY.workers  # one: web_shared/serving.py
    for worker in workers:
        loaded = _mapped(worker)
        # What the check looks for is really there, where the app is.
        assert any("sqlalchemy" in name for name in loaded), loaded
        assert any("cryptography" in name for name in loaded), loaded
    assert _mapped(masters[0]) == set()
