"""The early warning's rule on release documents (pure logic, no database): a region is
flagged when its latest month rises past the threshold over the mean of its previous
months; a suppressed count is never used as a number."""

from __future__ import annotations

from typing import Any

import pytest

from vault.config import ConfigError, load_config
from vault.services.releases import early_warnings, region_series

MONTHS = ["2025-01", "2025-02", "2025-03", "2025-04"]


def document(
    series: dict[str, list[int | None]],
    *,
    months: list[str] = MONTHS,
    created: str = "2025-05-01T00:00:00Z",
    ident: str = "r1",
    unit: str = "month",
) -> dict[str, Any]:
    """A release of period x region (+ act, summed over) with the given region series;
    the cells of the act dimension are irrelevant to the rule and left out."""
    regions = sorted(series)
    entries = []
    for region in regions:
        for month, value in zip(months, series[region], strict=True):
            entries.append({"key": [month, region, "*"], "value": value})
            entries.append({"key": [month, region, "rape"], "value": value})
    return {
        "id": ident,
        "created": created,
        "method": {"total_marker": "*", "k": 5},
        "scope": {"period_unit": unit},
        "dimensions": [
            {"name": "period", "categories": months},
            {"name": "region", "categories": regions},
            {"name": "act", "categories": ["rape"]},
        ],
        "entries": entries,
    }


def test_a_rise_past_the_threshold_is_flagged_and_one_below_is_not() -> None:
    doc = document({"CD-NK": [10, 10, 10, 15], "CD-SK": [10, 10, 10, 14], "CD-KN": [8, 8, 8, 8]})
    result = early_warnings([doc], rise_percent=50, periods=3)
    assert result.period == "2025-04"
    assert [(w.region, w.latest, w.baseline, w.rise_percent) for w in result.warnings] == [
        ("CD-NK", 15, 10.0, 50)
    ]
    assert (result.assessed, result.not_assessed) == (3, 0)
    # The threshold is configurable: at 30% Sud-Kivu (+40%) is flagged too.
    lower = early_warnings([doc], rise_percent=30, periods=3)
    assert [w.region for w in lower.warnings] == ["CD-NK", "CD-SK"]


def test_the_baseline_is_the_mean_of_the_n_previous_months() -> None:
    doc = document({"CD-NK": [100, 5, 5, 9]})
    # Over 2 months the mean is 5 (+80%); over 3 it is 36.7 (a fall).
    assert [w.rise_percent for w in early_warnings([doc], rise_percent=50, periods=2).warnings] == [
        80
    ]
    assert early_warnings([doc], rise_percent=50, periods=3).warnings == []


def test_a_rise_from_zero_is_flagged_without_a_percentage() -> None:
    doc = document({"CD-NK": [0, 0, 0, 6]})
    [warning] = early_warnings([doc], rise_percent=50, periods=3).warnings
    assert (warning.latest, warning.baseline, warning.rise_percent) == (6, 0.0, None)
    # Zero stays zero: no flag.
    assert (
        early_warnings([document({"CD-NK": [0, 0, 0, 0]})], rise_percent=50, periods=3).warnings
        == []
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # Latest suppressed: not read as 0 nor as k-1. Sud-Kivu (steady) is assessed.
        ([10, 10, 10, None], (1, 1)),
        # A baseline month suppressed: the mean is not guessed.
        ([None, 10, 10, 40], (1, 1)),
        # January covered by no release: neither region has a full baseline.
        ([10, 10, 40], (0, 2)),
    ],
)
def test_suppressed_or_missing_counts_leave_a_region_unassessed(
    values: list[int | None], expected: tuple[int, int]
) -> None:
    months = MONTHS if len(values) == 4 else MONTHS[1:]
    doc = document({"CD-NK": values, "CD-SK": [10] * len(values)}, months=months)
    result = early_warnings([doc], rise_percent=50, periods=3)
    assert result.warnings == []
    assert (result.assessed, result.not_assessed) == expected


def test_a_later_release_revises_the_same_months_and_yearly_releases_are_ignored() -> None:
    first = document({"CD-NK": [10, 10, 10, 10]}, ident="a", created="2025-05-01T00:00:00Z")
    revised = document({"CD-NK": [10, 10, 10, 30]}, ident="b", created="2025-06-01T00:00:00Z")
    series = region_series([revised, first])
    assert series[("CD-NK", "2025-04")] == (30, "b")
    [warning] = early_warnings([first, revised], rise_percent=50, periods=3).warnings
    assert warning.release == "b"
    yearly = document({"CD-NK": [1]}, months=["2025"], unit="year")
    assert region_series([yearly]) == {}


def test_a_release_without_period_and_region_gives_nothing() -> None:
    doc = document({"CD-NK": [10, 10, 10, 30]})
    doc["dimensions"] = [doc["dimensions"][0], doc["dimensions"][2]]
    result = early_warnings([doc], rise_percent=50, periods=3)
    assert result.period is None and result.warnings == []


def test_threshold_and_periods_come_from_the_configuration(tmp_path: Any) -> None:
    base = {"BACKUP_INSTANCE_DIR": str(tmp_path / "i")}
    config = load_config(base)
    assert (config.early_warning_rise_percent, config.early_warning_periods) == (50, 3)
    assert config.public_figures is False
    config = load_config(
        {
            **base,
            "BACKUP_EARLY_WARNING_RISE_PERCENT": "100",
            "BACKUP_EARLY_WARNING_PERIODS": "6",
            "BACKUP_PUBLIC_FIGURES": "true",
        }
    )
    assert (config.early_warning_rise_percent, config.early_warning_periods) == (100, 6)
    assert config.public_figures is True
    with pytest.raises(ConfigError):
        load_config({**base, "BACKUP_EARLY_WARNING_PERIODS": "0"})
