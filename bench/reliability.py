"""The reliability report: run every field-conditions scenario at full size, write
docs/reliability.md with what each measured and the machine it ran on.

    bash scripts/reliability.sh              # everything, full size (about 15-25 min)
    bash scripts/reliability.sh -k redis     # some scenarios only (pytest's -k)

Each scenario is an ordinary pytest test marked `reliability`. In the normal suite (and
CI) it runs at its short size. Here BACKUP_RELIABILITY_FULL=1 makes it run at full size
(tests.support.reliability.size), and BACKUP_RELIABILITY_RESULTS names a JSON-lines file
into which each test appends its figures (tests.support.reliability.record). This script
only runs pytest and writes down what the tests recorded: no figure is typed here.

Adding a scenario (paced uploads at Tor speed, slowloris, login and codename floods,
hostile input...):
  1. mark the test `@pytest.mark.reliability` (or put it in a module with
     `pytestmark = pytest.mark.reliability`);
  2. size its loops with `size(ci=..., full=...)` (or read its own variable and add it
     to FULL_SIZE_ENV below);
  3. call `record("what it is", {"figure": value, ...}, group="floods")` once with
     what it measured (p95 page times: `tests.support.reliability.p95`); a figure
     named in TOTALS (such as "requests sent") is also summed over its group.
The report lists the groups in GROUPS order, then any other group.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "reliability.md"
# Variables that switch scenarios to their full size (each test reads its own). The
# hostile-input tests size themselves with size() too; BACKUP_FUZZ_EXAMPLES (requests
# per target, tests/support/fuzz.py) stays free for a longer run by hand.
FULL_SIZE_ENV = {"BACKUP_RELIABILITY_FULL": "1"}
# Figures summed over a group's scenarios, shown above them ("In all: ...").
TOTALS = ("requests sent", "answers 5xx", "attempts")
GROUPS = {
    "faults": "Faults",
    "pacing": "Uploads at Tor speed and slow clients",
    "floods": "Floods, then the real user",
    "hostile": "Hostile input",
}


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> dict[str, str]:
    cpuinfo = _read("/proc/cpuinfo")
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    meminfo = _read("/proc/meminfo")
    total_kb = next(
        (int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal")),
        0,
    )
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": f"{total_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def load() -> str:
    return " ".join(_read("/proc/loadavg").split()[:3])


def other_processes() -> list[str]:
    """The busiest processes not started by this run (what else shared the machine)."""
    ps = subprocess.run(
        ["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],
        capture_output=True,
        text=True,
        check=False,
    )
    busy = []
    for line in ps.stdout.splitlines()[:8]:
        cpu, _, name = line.strip().partition(" ")
        if float(cpu or 0) >= 5.0:
            busy.append(f"{name.strip()} ({cpu}%)")
    return busy


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip()


def run_scenarios(results: Path, pytest_args: list[str]) -> tuple[int, float, str]:
    env = {**os.environ, **FULL_SIZE_ENV, "BACKUP_RELIABILITY_RESULTS": str(results)}
    argv = [sys.executable, "-m", "pytest", "-m", "reliability", "-q", "-p", "no:cacheprovider"]
    argv += ["-o", "timeout=3600", *pytest_args]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    sys.stdout.write(proc.stdout[-20000:])
    sys.stderr.write(proc.stderr[-5000:])
    summary = next(
        (
            line
            for line in reversed(proc.stdout.splitlines())
            if re.search(r"\d+ (passed|failed|error)", line)
        ),
        "no test ran",
    )
    return proc.returncode, time.monotonic() - started, summary.strip("= ")


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value).replace("|", "\\|")


def render(
    entries: list[dict[str, Any]],
    info: dict[str, str],
    before: str,
    after: str,
    busy: list[str],
    summary: str,
    seconds: float,
    command: str,
) -> str:
    lines = [
        "# Reliability under field conditions",
        "",
        "Written by `bash scripts/reliability.sh` (bench/reliability.py) from what each",
        "scenario measured in this run; nothing here is typed by hand. Each scenario is a",
        "pytest test marked `reliability`: the suite (and CI) runs it at a short size, this",
        "report at full size. What each fault means for users and operators:",
        'docs/admin.md, "When things break".',
        "",
        "## The run",
        "",
        f"- date: {info['date']}",
        f"- commit: `{info['commit']}`"
        + (f" (with uncommitted changes to {info['dirty']})" if info["dirty"] else ""),
        f"- command: `{command}`",
        f"- pytest: {summary} ({seconds / 60:.1f} min)",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory']} memory, "
        f"Linux {info['kernel']}, Python {info['python']}",
        f"- load average (1, 5, 15 min) before: {before}; after: {after}",
        "- other processes on the machine when the run started (share of a CPU over "
        "each one's life, from ps): " + (", ".join(busy) if busy else "none above 5%"),
        "",
    ]
    by_group: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_group.setdefault(entry["group"], []).append(entry)
    order = [g for g in GROUPS if g in by_group] + [g for g in by_group if g not in GROUPS]
    for group in order:
        lines += [f"## {GROUPS.get(group, group.capitalize())}", ""]
        totals = [
            f"{sum(e['figures'][name] for e in by_group[group] if name in e['figures'])} " + name
            for name in TOTALS
            if any(name in e["figures"] for e in by_group[group])
        ]
        if totals:
            scenarios = len(by_group[group])
            lines += [f"In all, over its {scenarios} scenarios: " + ", ".join(totals) + ".", ""]
        for entry in by_group[group]:
            size = "full size" if entry["full"] else "short (CI) size"
            lines += [f"### {entry['scenario']}", "", f"{size}, recorded {entry['at']}", ""]
            lines += ["| figure | value |", "|---|---|"]
            for name, value in entry["figures"].items():
                lines.append(f"| {name.replace('_', ' ')} | {_cell(value)} |")
            lines.append("")
    missing = [g for g in GROUPS if g not in by_group]
    if missing:
        lines += [
            "## Not measured in this run",
            "",
            "No scenario of these groups recorded figures (not built yet, or deselected): "
            + ", ".join(GROUPS[g] for g in missing)
            + ".",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=REPORT)
    # Everything else goes to pytest (e.g. -k redis).
    args, pytest_args = parser.parse_known_args()

    info = machine()
    info["date"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    info["commit"] = git("rev-parse", "--short", "HEAD")
    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    info["dirty"] = ", ".join(line[3:] for line in changed)
    before, busy = load(), other_processes()
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        results = Path(tmp) / "results.jsonl"
        code, seconds, summary = run_scenarios(results, pytest_args)
        after = load()
        entries = []
        if results.exists():
            entries = [json.loads(line) for line in results.read_text().splitlines() if line]
    command = " ".join(["bash scripts/reliability.sh", *pytest_args])
    args.output.write_text(render(entries, info, before, after, busy, summary, seconds, command))
    print(f"\nwrote {args.output} ({len(entries)} scenarios); pytest exit {code}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
