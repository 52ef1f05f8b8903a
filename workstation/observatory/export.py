"""A release as HXL data: CSV (a label row, then a hashtag row) and JSON (objects keyed
by hashtag), both checked with libhxl against our schema before they are written.

Layout (one line per entry of the table, margins included): a column per dimension,
with the counts of victims by sex in their own columns when sex is a dimension
(`#affected+f`, `#affected+m`, `#affected+sex_other`, `#affected+sex_unknown`) and their
total (`#affected+total`). A dimension summed over is left empty and named in
`#meta+total` (space-separated), so a reader adding lines up takes those where
`#meta+total` is empty. An empty count (null in JSON) is a suppressed count; 0 is zero.

libhxl validates in memory (no network): the schema is ours, the hashtags and every
value are checked (dates, ISO codes, the vocabularies, whole numbers).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import hxl

from workstation.observatory.release import UNKNOWN, ReleaseError
from workstation.observatory.release_input import ACTS, AGE_BANDS, PERPETRATORS, SEXES
from workstation.observatory.release_table import TOTAL

__all__ = ["HxlError", "hxl_rows", "to_csv", "to_json", "validate_hxl"]

# dimension -> (label, hashtag)
_COLUMNS = {
    "period": ("Period", "#date"),
    "country": ("Country", "#country+code"),
    "region": ("Region (ISO 3166-2)", "#adm1+code"),
    "act": ("Act (principal)", "#event+type+code"),
    "age_band": ("Age band", "#group+age+code"),
    "perpetrator": ("Perpetrator", "#group+perpetrator+code"),
    "victim_sex": ("Sex", "#group+sex+code"),
}
_SEX_COLUMNS = {
    "female": ("Victims, female", "#affected+f"),
    "male": ("Victims, male", "#affected+m"),
    "other": ("Victims, other sex", "#affected+sex_other"),
    UNKNOWN: ("Victims, sex unknown", "#affected+sex_unknown"),
}
_TOTAL_COLUMN = ("Victims", "#affected+total")
_META_COLUMN = ("Summed over", "#meta+total")


class HxlError(ReleaseError):
    """libhxl found the export invalid (a bug: nothing invalid is written)."""


def _choices(values: Sequence[str]) -> str:
    return "^(" + "|".join(v.replace("+", r"\+") for v in [*values, UNKNOWN]) + ")?$"


def _rule(tag: str, regex: str) -> dict[str, str]:
    return {"#valid_tag": tag, "#valid_severity": "error", "#valid_value+regex": regex}


_SCHEMA: list[dict[str, str]] = [
    {"#valid_tag": "#affected", "#valid_severity": "error", "#valid_datatype": "number"},
    _rule("#affected", r"^(0|[1-9][0-9]*)?$"),
    _rule("#date", r"^(\d{4}(-(0[1-9]|1[0-2]))?|unknown)?$"),
    _rule("#country+code", r"^([A-Z]{2})?$"),
    _rule("#adm1+code", r"^([A-Z]{2}-[A-Z0-9]{1,3}|unknown)?$"),
    _rule("#event+type", _choices(ACTS)),
    _rule("#group+age", _choices(AGE_BANDS)),
    _rule("#group+sex", _choices(SEXES)),
    _rule("#group+perpetrator", _choices(PERPETRATORS)),
    _rule("#meta+total", r"^([a-z_]+( [a-z_]+)*)?$"),
]


def hxl_rows(document: dict[str, Any]) -> tuple[list[str], list[str], list[list[Any]]]:
    """(labels, hashtags, rows) of a release; counts are int or None (suppressed)."""
    dims = [d["name"] for d in document["dimensions"]]
    cats = {d["name"]: d["categories"] for d in document["dimensions"]}
    values = {tuple(e["key"]): e["value"] for e in document["entries"]}
    wide = "victim_sex" in dims
    sex_at = dims.index("victim_sex") if wide else -1
    keep = [i for i, d in enumerate(dims) if i != sex_at]
    labels = [_COLUMNS[dims[i]][0] for i in keep]
    tags = [_COLUMNS[dims[i]][1] for i in keep]
    sexes = list(cats["victim_sex"]) if wide else []
    for sex in sexes:
        labels.append(_SEX_COLUMNS[sex][0])
        tags.append(_SEX_COLUMNS[sex][1])
    labels += [_TOTAL_COLUMN[0], _META_COLUMN[0]]
    tags += [_TOTAL_COLUMN[1], _META_COLUMN[1]]
    rows: list[list[Any]] = []
    for key in values:
        if wide and key[sex_at] != TOTAL:
            continue
        row: list[Any] = ["" if key[i] == TOTAL else key[i] for i in keep]
        for sex in sexes:
            row.append(values[(*key[:sex_at], sex, *key[sex_at + 1 :])])
        row.append(values[key])
        row.append(" ".join(dims[i] for i in keep if key[i] == TOTAL))
        rows.append(row)
    return labels, tags, rows


def validate_hxl(tags: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """libhxl's verdict on (hashtags, rows) against our schema; HxlError if invalid."""
    objects = [
        {tag: ("" if value is None else str(value)) for tag, value in zip(tags, row, strict=True)}
        for row in rows
    ]
    options = hxl.InputOptions(allow_local=True)
    data = hxl.data(io.BytesIO(json.dumps(objects).encode()), options)
    schema = hxl.data(io.BytesIO(json.dumps(_SCHEMA).encode()), options)
    if list(data.display_tags) != list(tags):
        raise HxlError("libhxl did not read our hashtags")
    report = hxl.validate(data, schema)
    if not report["is_valid"]:
        raise HxlError(f"HXL validation failed: {report['stats']}")


def to_csv(document: dict[str, Any]) -> str:
    labels, tags, rows = hxl_rows(document)
    validate_hxl(tags, rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(labels)
    writer.writerow(tags)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def to_json(document: dict[str, Any]) -> str:
    """HXL JSON (objects keyed by hashtag), with the release's id beside."""
    _, tags, rows = hxl_rows(document)
    validate_hxl(tags, rows)
    objects = [dict(zip(tags, row, strict=True)) for row in rows]
    return json.dumps(objects, ensure_ascii=False, indent=1) + "\n"
