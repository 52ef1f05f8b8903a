"""What an edit of a case's triage attributes changes, as pure values.

The case page saves priority, the urgent-medical flag, the due date, labels and
assignees in one form. The audit log must say exactly what changed and nothing else:
saving an untouched form records nothing, changing the priority records only the
priority, and no "urgent cleared" for a case that was never urgent. So the service
compares the case before and after (`changes`) and records one event per real change.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from vault.errors import VaultError
from vault.models import CasePriority

__all__ = [
    "LABEL_PATTERN",
    "Change",
    "InvalidLabelError",
    "Triage",
    "changes",
    "default_priority",
    "parse_labels",
]

LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# More than this in one form is a typing accident, not a triage decision.
MAX_LABELS = 20
_SEPARATORS = re.compile(r"[\s,;]+")


class InvalidLabelError(VaultError):
    """A label that is not a short lower-case word (letters, digits, - and _)."""


@dataclass(frozen=True)
class Triage:
    """A case's triage attributes; `assignees` are reviewer uuids."""

    priority: CasePriority
    urgent: bool
    due: dt.date | None
    labels: frozenset[str]
    assignees: frozenset[str]


Value = str | bool | None


@dataclass(frozen=True)
class Change:
    """One real change, as the audit event that records it."""

    action: str
    field: str
    before: Value
    after: Value

    def detail(self) -> dict[str, Value]:
        return {"field": self.field, "from": self.before, "to": self.after}


def default_priority(urgent: bool) -> CasePriority:
    """The priority a new case starts at when the analyst does not choose one: an urgent
    medical need goes to the top (emergency care works only within days)."""
    return CasePriority.HIGH if urgent else CasePriority.NORMAL


def parse_labels(text: str) -> list[str]:
    """Labels typed in one field, separated by spaces or commas, in order, without
    repeats; InvalidLabelError for anything that is not a label."""
    found: list[str] = []
    for word in _SEPARATORS.split(text.strip().lower()):
        if not word:
            continue
        if not LABEL_PATTERN.fullmatch(word):
            raise InvalidLabelError("labels are short lower-case words")
        if word not in found:
            found.append(word)
    if len(found) > MAX_LABELS:
        raise InvalidLabelError("too many labels")
    return found


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


def changes(before: Triage, after: Triage) -> list[Change]:
    """Every difference between `before` and `after`, one Change each, in a fixed order
    (priority, urgent, due date, labels, assignees; sets sorted)."""
    found: list[Change] = []
    if before.priority is not after.priority:
        found.append(
            Change("case_priority_changed", "priority", before.priority.value, after.priority.value)
        )
    if before.urgent != after.urgent:
        action = "case_urgent_set" if after.urgent else "case_urgent_cleared"
        found.append(Change(action, "urgent_medical", before.urgent, after.urgent))
    if before.due != after.due:
        action = "case_due_set" if after.due is not None else "case_due_cleared"
        found.append(Change(action, "due", _iso(before.due), _iso(after.due)))
    for label in sorted(after.labels - before.labels):
        found.append(Change("case_label_added", "label", None, label))
    for label in sorted(before.labels - after.labels):
        found.append(Change("case_label_removed", "label", label, None))
    for reviewer in sorted(after.assignees - before.assignees):
        found.append(Change("case_assigned", "assignee", None, reviewer))
    for reviewer in sorted(before.assignees - after.assignees):
        found.append(Change("case_unassigned", "assignee", reviewer, None))
    return found
