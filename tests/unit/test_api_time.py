"""The API's timestamps: SecureDrop's format, whatever way they are written."""

from __future__ import annotations

import datetime as dt

import pytest

from journalist_app.api.serialize import API_DATETIME_FORMAT, api_time


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2026, 11, 26, 3, 41, 0, 123456),
        dt.datetime(2026, 11, 26, 3, 41, 0),  # no microseconds: still six digits
        dt.datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 2, 23, 4, 5, 7, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    ],
)
def test_api_time_is_securedrops_format_in_utc(value: dt.datetime) -> None:
    utc = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    assert api_time(value) == utc.strftime(API_DATETIME_FORMAT)
    assert dt.datetime.strptime(api_time(value) or "", API_DATETIME_FORMAT) == utc


def test_api_time_of_nothing_is_null() -> None:
    assert api_time(None) is None


def test_an_example_written_out() -> None:
    assert api_time(dt.datetime(2026, 11, 26, 3, 41, 0, 123000)) == "2026-11-26T03:41:00.123000Z"
    later = dt.datetime(2026, 1, 3, 4, 4, 5, 7, tzinfo=dt.UTC)
    assert api_time(
        dt.datetime(2026, 1, 2, 23, 4, 5, 7, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    ) == (later.replace(tzinfo=None).strftime(API_DATETIME_FORMAT))
