"""What the lists share: column headers that sort through plain GET links (no
JavaScript), keeping the filters of the query string."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import url_for
from werkzeug.datastructures import MultiDict

__all__ = ["Sorter"]

_OPPOSITE = {"asc": "desc", "desc": "asc"}


@dataclass(frozen=True)
class Sorter:
    """Links for sortable column headers.

    A column's link sorts by it in its usual direction (`defaults`); the link of the
    column already sorted on reverses it. Filters stay; the page goes back to the first.
    """

    endpoint: str
    args: MultiDict[str, str]
    sort: str
    direction: str
    defaults: Mapping[str, str]

    def url(self, column: str) -> str:
        if column == self.sort:
            direction = _OPPOSITE.get(self.direction, "asc")
        else:
            direction = self.defaults.get(column, "asc")
        params: dict[str, Any] = {
            k: v for k, v in self.args.items() if k not in ("sort", "dir", "page") and v
        }
        return url_for(self.endpoint, **params, sort=column, dir=direction)

    def aria(self, column: str) -> str | None:
        """The header's aria-sort value, for the column the list is sorted on."""
        if column != self.sort:
            return None
        return "descending" if self.direction == "desc" else "ascending"
