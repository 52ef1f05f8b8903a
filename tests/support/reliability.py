"""Sizes and figures of the field-conditions scenarios (faults, floods, paced uploads...).

Each scenario is an ordinary pytest test. In the normal suite (and CI) it runs its short
version; `scripts/reliability.sh` sets BACKUP_RELIABILITY_FULL=1 to run it at full size,
and BACKUP_RELIABILITY_RESULTS to a JSON-lines file into which `record` appends what each
scenario measured. `bench/reliability.py` turns that file into docs/reliability.md.

A scenario's figures are measured by the test itself (counts, seconds, percentiles):
never typed by hand.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FULL_ENV = "BACKUP_RELIABILITY_FULL"
RESULTS_ENV = "BACKUP_RELIABILITY_RESULTS"


def full_size() -> bool:
    """Whether the scenarios run at full size (the reliability report), not CI size."""
    return os.environ.get(FULL_ENV, "") not in ("", "0")


def size(ci: int, full: int) -> int:
    """How many repetitions (kills, requests...) this run makes."""
    return full if full_size() else ci


def p95(samples: Sequence[float]) -> float:
    """The 95th percentile (nearest rank); 0.0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def record(scenario: str, figures: dict[str, Any], *, group: str = "faults") -> None:
    """Append one scenario's figures to the results file, if the run asked for one.

    Always printed too, so a plain `pytest -s` shows them.
    """
    entry = {
        "group": group,
        "scenario": scenario,
        "full": full_size(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "figures": figures,
    }
    line = json.dumps(entry, sort_keys=True)
    print(f"\nreliability: {line}")
    target = os.environ.get(RESULTS_ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
