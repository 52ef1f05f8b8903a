"""One run of bench/reviewer_day.py's code path (no figures): the new side's whole day
on a fresh `backupctl run` of this tree (six sources sent through the source app, the
care request referred and accepted by the partner, cases triaged, replies, the export
made into a judicial file by the real `backupctl custody` commands, the audit log
read), and the baseline's git worktree made and removed. The baseline's day itself
needs a second instance (minutes): the benchmark's own runs play it (docs/benchmarks.md).
"""

from __future__ import annotations

import importlib
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.product import REPO


def _bench() -> ModuleType:
    return importlib.import_module("bench.reviewer_day")


@pytest.mark.browser
def test_one_day_is_counted_and_printed(tmp_path: Path) -> None:
    bench = _bench()
    lines: list[str] = []
    report = bench.measure(1, "HEAD", lines.append, sides=("workbench",))

    (counts,) = report.runs["workbench"]
    row = counts.row()
    assert all(value > 0 for value in row.values()), row
    # Every click that is not a choice, a tick, an untick or a download loads a page; so
    # do the three login pages opened by address.
    quiet = sum(
        step.startswith(("choose ", "tick ", "untick ")) or step.endswith("(download)")
        for step in counts.clicks.steps
    )
    assert row["page loads"] == row["clicks"] - quiet + 3
    assert counts.clicks.steps[0] == "open the login page (analyst1)"
    steps = counts.clicks.steps
    assert steps[-1] == "click Referrals (category link)"
    # The workbench's way: the care request answered and referred in one submit (the
    # answer takes it); a case opened in one submit at its status (no move clicked:
    # Triage by default, Judicial chosen once), its status following the referral;
    # replies and the third source added on the case page; the partner accepting in
    # the list; the audit log filtered by one category link.
    assert "click Take it" not in steps and "click Refer" not in steps
    assert steps.count("click Send encrypted answer (and refer)") == 1
    assert steps.count("click Create a case from this source") == 3
    assert not [step for step in steps if step.startswith("click Move to")], steps
    assert steps.count("choose status") == 1
    assert steps.count("click Send reply (on the case page)") == 2
    assert steps.count("click Add to this case") == 1
    assert steps.count("click Accept (in the list)") == 1
    assert "choose category" not in steps
    # The goal: half the baseline's clicks (70) and page loads (63).
    assert row["clicks"] <= 35 and row["page loads"] <= 31, row
    # The workstation's commands, as typed: the fingerprint's first 16 characters and
    # the items' 8-character ids.
    assert [line.split()[2] for line in counts.commands.lines] == [
        "init",
        "trust",
        "import",
        "decrypt",
        "judicial",
    ]
    trust, decrypt = counts.commands.lines[1].split(), counts.commands.lines[3].split()
    assert len(trust[trust.index("--fingerprint") + 1]) == 16
    items = decrypt[4 : decrypt.index("--home")]
    assert items and all(len(item) == 8 for item in items), items
    # What the day left: the four cases as triaged, the referral accepted, the replies
    # sent, one judicial file (the benchmark checks both sides leave the same).
    state = counts.state
    cases = {tuple(case[0]): case[1:] for case in state["cases"]}
    assert set(cases) == {("S1", "S3"), ("S2",), ("S4",), ("S5",)}
    assert cases[("S1", "S3")] == (
        "high",
        True,
        ["abduction", "north-kivu"],
        ["analyst2"],
        3,
        "triage",
    )
    assert cases[("S4",)] == ("high", False, ["judicial"], ["analyst1"], 14, "judicial")
    assert cases[("S5",)] == ("high", True, ["medical"], ["analyst1"], 1, "referred")
    assert state["referrals"] == ["accepted"]
    assert {"S1", "S2", "S6"} <= set(state["replies"])
    assert state["judicial files"] == 1
    assert row["command characters"] == sum(len(line) for line in counts.commands.lines)
    assert len(lines) == 1 and lines[0].startswith("run 1 workbench: {'clicks': ")
    table = report.table()
    assert table[0].split() == ["workbench"]
    assert table[1].split() == ["clicks", str(row["clicks"])]

    # The baseline's tree: a detached worktree of the commit, with its own backupctl,
    # gone afterwards.
    with bench.baseline_tree("HEAD", tmp_path) as tree:
        assert (tree / "backupctl" / "__main__.py").is_file()
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True, check=True
        )
        assert (
            head.stdout.strip()
            == subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
            ).stdout.strip()
        )
    assert not tree.exists()
