"""A short run of bench/tor_speed_uploads.py's code path on both sides (no figures).

Two small uploads at 100 KB/s: the product under `backupctl run` with real sources,
sealing and the development key's decryption; the baseline under the same gunicorn
settings. Checks that the paced clients, the prober and the verification work, so the
benchmark does not rot between the runs that produce figures (docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.product import make_instance_root


def _bench() -> ModuleType:
    return importlib.import_module("bench.tor_speed_uploads")


@pytest.mark.parametrize("side", ["BackUp", "Baseline"])
def test_both_sides_receive_paced_uploads_and_verify_them(side: str, tmp_path: Path) -> None:
    bench = _bench()
    files, sent = [], []
    for index in range(2):
        data = os.urandom(128 * 1024)
        path = tmp_path / f"upload-{index}.bin"
        path.write_bytes(data)
        files.append(path)
        sent.append(hashlib.sha256(data).hexdigest())
    # A short path: gpg-agent's socket lives in the instance (see make_instance_root).
    work = make_instance_root()
    pace = bench.Pace(rate=100_000, cells_per_burst=4, jitter=0.3)
    try:
        run = bench.run_side(getattr(bench, side), work, files, sent, pace, 0.05, 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # Really paced (never faster than the schedule, but for the last burst's jitter)
    # and really completed; the figures themselves are the benchmark's business.
    assert len(run.ratios) == 2 and all(ratio > 0.9 for ratio in run.ratios), run.ratios
    assert "SHA-256 match" in run.verified, run.verified
    assert run.probes >= 1 and run.probe_failures == 0
    assert run.rss_max > 0
