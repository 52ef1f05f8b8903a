"""`bench.upload_profile` on small uploads: it serves the product, uploads (two measured
uploads, one after the other), and names the gpg the source app ran among the threads it
measured."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support.product import REPO


def test_a_small_upload_is_profiled() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.upload_profile", "--size-mib", "128", "--uploads", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for number in (1, 2):
        assert re.search(
            rf"^upload {number} of 2: [0-9.]+ s; the sending client", done.stdout, re.M
        ), done.stdout
    assert re.search(r"^  gpg +pid \d+ thread \d+ \(nice 0\): [0-9.]+ CPU-s", done.stdout, re.M), (
        done.stdout
    )
    # the source app's own threads (request, plaintext hasher, gpg's output)
    assert re.search(r"^  python\S* +pid \d+ thread \d+ \(nice 0\): ", done.stdout, re.M), (
        done.stdout
    )
    assert (
        len(re.findall(r"source app and its gpg, sampled every 50 ms: [0-9.]+", done.stdout)) == 2
    ), done.stdout
