"""One run of bench/observatory.py at 500 records (real gpg, libhxl, OpenDP): every
figure it prints is there and positive, each comparison with its baseline and ratio."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support.product import REPO

LABELS = (
    "code into the sealed store (bulk commit, gpg, fsync, log)",
    "build release rows (incidents, consent)",
    "count + suppress: period x region x act",
    "count + suppress: period x region x act x victim_sex",
    "DP (OpenDP, epsilon 1): period x region x act",
    "export HXL CSV (libhxl-validated)",
    "export HXL JSON (libhxl-validated)",
    "SVG charts",
)
COMPARED = {
    "code into the sealed store (bulk commit, gpg, fsync, log)": "plain JSON file + fsync",
    "count + suppress: period x region x act": "counting alone",
    "DP (OpenDP, epsilon 1): period x region x act": "the same without noise",
    "export HXL CSV (libhxl-validated)": "csv alone",
}


def test_the_benchmark_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.observatory", "--records", "500",
         "--dims", "period,region,act", "--dims", "period,region,act,victim_sex"],
        capture_output=True, text=True, timeout=600, check=False, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"^machine: .+ \d+ CPUs", out, re.M)
    assert re.search(r"^load average before: [\d.]+ [\d.]+ [\d.]+; other busy", out, re.M)
    assert re.search(r"^load average after: [\d.]+", out, re.M)
    for label in LABELS:
        line = next((x for x in out.splitlines() if x.startswith(label)), None)
        assert line is not None, label
        seconds = float(re.search(r"\s([\d.]+) s", line).group(1))  # type: ignore[union-attr]
        assert seconds > 0, line
        if label in COMPARED:
            match = re.search(
                rf"\| {re.escape(COMPARED[label])}: +([\d.]+) s \| ratio +([\d.]+)$", line
            )
            assert match, line
            assert float(match.group(1)) > 0 and float(match.group(2)) > 0, line
    rows = re.search(r"^  ([\d,]+) rows from ([\d,]+) consenting records of ([\d,]+)$", out, re.M)
    assert rows, out
    consenting, total = (int(rows.group(n).replace(",", "")) for n in (2, 3))
    assert 0.6 < consenting / total < 0.95  # about four in five consent
    hidden = re.findall(
        r"^  ([\d,]+) entries, ([\d,]+) primary \+ ([\d,]+) complementary", out, re.M
    )
    # Two dimension sets, then the DP release (suppressed on noisy counts).
    assert len(hidden) == 3 and all(int(h[1].replace(",", "")) > 0 for h in hidden[:2])
    assert "complementary hidden (on noisy counts)" in out
    charts = dict(re.findall(r"^  chart (\w+): ([\d,]+) bytes$", out, re.M))
    assert set(charts) == {"time", "region", "act"}
    assert all(int(size.replace(",", "")) > 500 for size in charts.values())
