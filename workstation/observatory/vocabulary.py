"""The closed vocabularies of an incident record.

Acts, victims' sex and age bands and perpetrator categories are the ALERT report's own
codes (`vault.reports`: the International Protocol's categories of conflict-related
sexual violence), so a prefilled record keeps exactly what the source chose; coding adds
"unknown" where a report may be silent. Nothing here is free text: every value a
release may count is one of these codes.
"""

from __future__ import annotations

from vault import reports

__all__ = [
    "ACTS",
    "AGE_BANDS",
    "PERPETRATORS",
    "SEXES",
    "SOURCE_TYPES",
    "UNKNOWN",
]

UNKNOWN = "unknown"
# The International Protocol (2nd ed., 2017) categories, as in the ALERT report.
ACTS: tuple[str, ...] = tuple(reports.VIOLENCE)
SEXES: tuple[str, ...] = (*reports.SEXES, UNKNOWN)
AGE_BANDS: tuple[str, ...] = (*reports.AGE_BANDS, UNKNOWN)
# Already has "unknown".
PERPETRATORS: tuple[str, ...] = tuple(reports.PERPETRATORS)
# Who the information comes from (the report's "who is reporting"), HURIDOCS' source
# type: a survivor's own account weighs differently from a witness's or a professional's.
SOURCE_TYPES: tuple[str, ...] = (*reports.REPORTERS, UNKNOWN)
