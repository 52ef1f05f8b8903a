"""`backupctl workstation incident`: code incidents for the observatory, in a workspace.

Every command opens the workspace (workstation key: its custody log must verify) and the
sealed incident store (submission key: `--home` and `--passphrase-file`, as `custody
decrypt`). Records are printed to this terminal only; nothing is written in clear.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from backupctl._common import read_passphrase_file
from backupctl.airgap.cmd_custody import _ACTOR, _KEY_PASSPHRASE, _WORKSPACE, _open, _passphrase
from workstation.custody_log import Workspace
from workstation.observatory.coding import item_prefill, source_link
from workstation.observatory.duplicates import (
    DEFAULT_MIN_SCORE,
    DuplicateSuggestion,
    duplicates_of,
    suggest_duplicates,
)
from workstation.observatory.incidents import (
    ConsentStatus,
    Incident,
    group_incidents,
    statistics_consent,
)
from workstation.observatory.model import (
    Act,
    IncidentDate,
    IncidentInvalidError,
    IncidentRecord,
    Place,
    VictimGroup,
)
from workstation.observatory.release_ledger import SealedLedger
from workstation.observatory.store import IncidentBook, open_book
from workstation.observatory.vocabulary import (
    ACTS,
    AGE_BANDS,
    PERPETRATORS,
    SEXES,
    SOURCE_TYPES,
    UNKNOWN,
)

_SHOWN = 5  # likely duplicates shown after `add`
_HOME = click.option(
    "--home",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="GnuPG home holding the submission secret key (the store is sealed to it).",
)
_PASSPHRASES = click.option(
    "--passphrase-file",
    "passphrase_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Submission key passphrase(s); repeat for older keys after a rotation.",
)
_FIELDS = [
    click.option(
        "--act", "acts", multiple=True, help=f"An act (repeat): {', '.join(ACTS)}. Replaces."
    ),
    click.option(
        "--victims",
        multiple=True,
        help="[ACT=]SEX:AGE_BAND:COUNT (repeat), e.g. female:18-29:2 or rape=male:12-17:1; "
        f"sex: {', '.join(SEXES)}; age band: {', '.join(AGE_BANDS)}.",
    ),
    click.option(
        "--perpetrator",
        "perpetrators",
        multiple=True,
        help=f"[ACT=]CATEGORY (repeat): {', '.join(PERPETRATORS)}.",
    ),
    click.option("--date", help="YYYY-MM-DD, YYYY-MM, YYYY, or a range START/END of those."),
    click.option("--country", help="ISO 3166-1 alpha-2 (clears the region unless --region)."),
    click.option("--region", help="ISO 3166-2 first-level region, e.g. CD-SK."),
    click.option("--no-region", is_flag=True, help="The region is not known."),
    click.option("--source-type", type=click.Choice(SOURCE_TYPES), help="Who is reporting."),
    click.option("--note", help="The analyst's note (sealed; never released)."),
]


_F = TypeVar("_F", bound=Callable[..., None])


def _field_options(func: _F) -> _F:
    for option in reversed(_FIELDS):
        func = option(func)
    return func


def _phrases(files: Sequence[Path]) -> list[str]:
    return [read_passphrase_file(p) for p in files] or [
        _passphrase(None, "Passphrase of the submission secret key")
    ]


def _split(values: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    common: list[str] = []
    per_act: dict[str, list[str]] = {}
    for value in values:
        act, sep, rest = value.partition("=")
        if sep:
            per_act.setdefault(act.strip(), []).append(rest.strip())
        else:
            common.append(value.strip())
    return common, per_act


def _acts(
    base: Sequence[Act], acts: Sequence[str], victims: Sequence[str], perpetrators: Sequence[str]
) -> tuple[Act, ...]:
    """The acts after the options: the categories given (or the base's), each with the
    victims and perpetrators given for it, else those given for all, else the base's."""
    try:
        common_v, act_v = _split(victims)
        groups = {k: tuple(VictimGroup.parse(v) for v in vs) for k, vs in act_v.items()}
        common_groups = tuple(VictimGroup.parse(v) for v in common_v)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--victims") from None
    common_p, act_p = _split(perpetrators)
    unknown = set(groups) | set(act_p)
    categories = list(dict.fromkeys(acts)) or [a.category for a in base]
    if unknown - set(categories):
        raise click.BadParameter(
            f"{', '.join(sorted(unknown - set(categories)))}: not an act of this record",
            param_hint="--victims/--perpetrator",
        )
    by_category = {a.category: a for a in base}
    default_v = base[0].victims if base else ()
    default_p = base[0].perpetrators if base else (UNKNOWN,)
    out = []
    for category in categories:
        known = by_category.get(category)
        out.append(
            Act(
                category,
                groups.get(category) or common_groups or (known.victims if known else default_v),
                tuple(act_p.get(category) or common_p)
                or (known.perpetrators if known else default_p),
            )
        )
    return tuple(out)


def _place(base: Place | None, country: str | None, region: str | None, no_region: bool) -> Place:
    if region:
        return Place(country or region.split("-", 1)[0].upper(), region.upper())
    if country:
        keep = base is not None and base.country == country.upper() and not no_region
        return Place(country.upper(), base.region if keep and base else None)
    if base is None:
        raise IncidentInvalidError(["place: the report gives none: --country (and --region)"])
    return Place(base.country, None if no_region else base.region)


def _date(base: IncidentDate | None, text: str | None) -> IncidentDate:
    if text:
        try:
            return IncidentDate.parse(text)
        except ValueError as exc:
            raise IncidentInvalidError([f"date: {exc}"]) from None
    if base is None:
        raise IncidentInvalidError(["date: the report gives none: --date"])
    return base


def _describe(record: IncidentRecord, consent: ConsentStatus | None = None) -> list[str]:
    place = record.place.country + (f" {record.place.region}" if record.place.region else "")
    lines = [
        f"incident record {record.id} (revision {record.revision})",
        f"  date: {record.date.text} ({record.date.precision.value})",
        f"  place: {place}",
        f"  source type: {record.source_type}",
    ]
    for act in record.acts:
        victims = ", ".join(v.text for v in act.victims)
        lines.append(f"  act {act.category}: victims {victims}; by {', '.join(act.perpetrators)}")
    for link in record.sources:
        lines.append(f"  coded from {link.document} ({link.kind}, item {link.item})")
    if record.note:
        lines.append(f"  note: {record.note}")
    if record.group != record.id:
        lines.append(f"  linked: one incident with {record.group}")
    if consent is not None:
        lines.append(f"  statistics: {consent.flag}")
        lines += [f"    consent: {doc}" for doc in consent.documents]
        lines += [f"    {problem}" for problem in consent.problems]
    return lines


def _consent(workspace: Workspace, book: IncidentBook) -> dict[str, ConsentStatus]:
    return statistics_consent(workspace, book.records.values())


@click.group("incident")
def incident() -> None:
    """Code incidents for the observatory (sealed in a workspace)."""


@incident.command("add")
@_WORKSPACE
@click.option(
    "--from", "items", multiple=True, required=True, help="Item id it is coded from (repeat)."
)
@_field_options
@click.option("--yes", is_flag=True, help="Seal without asking to confirm.")
@_HOME
@_PASSPHRASES
@_KEY_PASSPHRASE
@_ACTOR
def add(
    workspace: Path,
    items: tuple[str, ...],
    acts: tuple[str, ...],
    victims: tuple[str, ...],
    perpetrators: tuple[str, ...],
    date: str | None,
    country: str | None,
    region: str | None,
    no_region: bool,
    source_type: str | None,
    note: str | None,
    yes: bool,
    home: Path,
    passphrase_files: tuple[Path, ...],
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """Code an incident from decrypted items (--from): prefilled from the first that is an
    ALERT report (or ASSIST request: the place); the options set or replace fields."""
    opened = _open(workspace, key_passphrase_file, actor)
    links = tuple(source_link(opened, item) for item in dict.fromkeys(items))
    prefill = next(
        (p for p in (item_prefill(opened, link.item) for link in links) if p.acts or p.place),
        None,
    )
    # What neither the report nor the options give is named all at once.
    missing: list[str] = []
    try:
        when = _date(prefill.date if prefill else None, date)
    except IncidentInvalidError as exc:
        missing += exc.problems
    try:
        where = _place(prefill.place if prefill else None, country, region, no_region)
    except IncidentInvalidError as exc:
        missing += exc.problems
    coded_acts = _acts(prefill.acts if prefill else (), acts, victims, perpetrators)
    if not coded_acts:
        missing.append("acts: the report gives none: --act CATEGORY (and --victims)")
    if missing:
        raise IncidentInvalidError(missing)
    record_id = str(uuid.uuid4())
    record = IncidentRecord.build(
        id=record_id,
        group=record_id,
        date=when,
        place=where,
        acts=coded_acts,
        source_type=source_type or (prefill.source_type if prefill else None) or UNKNOWN,
        sources=links,
        note=note,
    )
    click.echo("\n".join(_describe(record)))
    for line in prefill.review if prefill else ["coded by hand (no report to prefill from)"]:
        click.echo(f"  CHECK: {line}")
    if not yes and not click.confirm("Seal this record?", default=True):
        raise click.ClickException("not sealed")
    with open_book(opened, home, _phrases(passphrase_files)) as book:
        kept = book.add(record)
        book.commit()
        likely = duplicates_of(kept, book.records.values())
    if likely:
        click.echo(f"likely duplicates ({len(likely)}; the best {min(len(likely), _SHOWN)}):")
        _print_suggestions(likely[:_SHOWN])
        click.echo("  link one with `incident link WS RECORD OTHER` if it is the same incident")
    click.echo(f"sealed incident record {kept.id}")


@incident.command("edit")
@_WORKSPACE
@click.argument("record_id")
@_field_options
@click.option("--add-from", "add_items", multiple=True, help="Another item it rests on.")
@click.option(
    "--remove-from",
    "remove_items",
    multiple=True,
    help="An item it no longer rests on (its id, or 8 characters or more of it).",
)
@_HOME
@_PASSPHRASES
@_KEY_PASSPHRASE
@_ACTOR
def edit(
    workspace: Path,
    record_id: str,
    acts: tuple[str, ...],
    victims: tuple[str, ...],
    perpetrators: tuple[str, ...],
    date: str | None,
    country: str | None,
    region: str | None,
    no_region: bool,
    source_type: str | None,
    note: str | None,
    add_items: tuple[str, ...],
    remove_items: tuple[str, ...],
    home: Path,
    passphrase_files: tuple[Path, ...],
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """Change fields of a record (the options given; the rest stays)."""
    opened = _open(workspace, key_passphrase_file, actor)
    with open_book(opened, home, _phrases(passphrase_files)) as book:
        old = book.find(record_id)
        known = {link.item for link in old.sources}
        added = tuple(source_link(opened, i) for i in dict.fromkeys(add_items) if i not in known)
        removed = _removed_items(old, remove_items)
        new = IncidentRecord.build(
            **{
                **old.values(),
                "date": _date(old.date, date),
                "place": _place(old.place, country, region, no_region),
                "acts": _acts(old.acts, acts, victims, perpetrators),
                "source_type": source_type or old.source_type,
                "sources": tuple(s for s in old.sources + added if s.item not in removed),
                "note": old.note if note is None else (note or None),
            }
        )
        # The custody-log entry names the items taken away (ids only), beside the items
        # the record now rests on.
        extra: dict[str, Any] = {"removed": sorted(removed)} if removed else {}
        if not book.update(new, "incident-edited", **extra):
            click.echo("nothing changed")
            return
        book.commit()
        click.echo("\n".join(_describe(book.records[old.id])))


def _removed_items(record: IncidentRecord, refs: Sequence[str]) -> set[str]:
    """The items of `record` named by `refs` (ids or prefixes of 8 characters or more);
    a ref that names none of them, or several, is refused."""
    removed = set()
    for ref in dict.fromkeys(r.strip().lower() for r in refs):
        found = {
            s.item
            for s in record.sources
            if s.item == ref or (len(ref) >= 8 and s.item.startswith(ref))
        }
        if len(found) != 1:
            what = "not an item this record rests on" if not found else "names several items"
            raise click.BadParameter(f"{ref}: {what}", param_hint="--remove-from")
        removed |= found
    return removed


@incident.command("list")
@_WORKSPACE
@_HOME
@_PASSPHRASES
@_KEY_PASSPHRASE
@_ACTOR
def list_(
    workspace: Path,
    home: Path,
    passphrase_files: tuple[Path, ...],
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """Every incident (linked records together), its corroboration and whether it may
    be counted in statistics."""
    opened = _open(workspace, key_passphrase_file, actor)
    with open_book(opened, home, _phrases(passphrase_files)) as book:
        consent = _consent(opened, book)
        found = group_incidents(book.records.values(), consent)
    for item in found:
        click.echo(_incident_line(item))
        for record in item.records:
            mark = "*" if record is item.counted else " "
            place = record.place.region or record.place.country
            click.echo(
                f"  {mark} {record.id[:8]} {record.date.text:<21} {place:<6} "
                f"{','.join(record.act_categories)}  {consent[record.id].flag}"
            )
    usable = sum(1 for i in found if i.usable)
    click.echo(
        f"{len(book.records)} record(s), {len(found)} incident(s), "
        f"{usable} usable for statistics (* = the record counted)"
    )
    _seal_notice(book)


def _seal_notice(book: IncidentBook) -> None:
    was, now = book.seal_outdated()
    if now:
        click.echo(
            f"NOTE: the store is sealed to {', '.join(was) if was else 'keys not recorded'}; "
            f"the submission keys in force are {', '.join(now)}: run "
            "`backupctl workstation incident reseal`",
            err=True,
        )


def _incident_line(item: Incident) -> str:
    status = "counted" if item.usable else "NOT COUNTED (no consent to statistics)"
    return (
        f"incident {item.group[:8]}: {len(item.records)} record(s), {item.reports} report(s), "
        f"corroboration {item.corroboration} source(s); {status}"
    )


@incident.command("show")
@_WORKSPACE
@click.argument("record_id")
@_HOME
@_PASSPHRASES
@_KEY_PASSPHRASE
@_ACTOR
def show(
    workspace: Path,
    record_id: str,
    home: Path,
    passphrase_files: tuple[Path, ...],
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """One record in full, its consent to statistics and its incident."""
    opened = _open(workspace, key_passphrase_file, actor)
    with open_book(opened, home, _phrases(passphrase_files)) as book:
        record = book.find(record_id)
        consent = _consent(opened, book)
        [item] = [
            i for i in group_incidents(book.records.values(), consent) if i.group == record.group
        ]
    click.echo("\n".join(_describe(record, consent[record.id])))
    click.echo(_incident_line(item))
    for other in item.records:
        if other is not record:
            click.echo(f"  with {other.id} ({consent[other.id].flag})")


def _print_suggestions(found: Sequence[DuplicateSuggestion]) -> None:
    for suggestion in found:
        click.echo(f"{suggestion.score:.2f}  {suggestion.first.id} {suggestion.second.id}")
        for reason in suggestion.reasons:
            click.echo(f"      {reason}")


@incident.command("duplicates")
@_WORKSPACE
@click.argument("record_id", required=False)
@click.option("--min-score", default=DEFAULT_MIN_SCORE, show_default=True, type=float)
@click.option("--limit", default=50, show_default=True, help="Show the best LIMIT pairs.")
@_HOME
@_PASSPHRASES
@_KEY_PASSPHRASE
@_ACTOR
def duplicates(
    workspace: Path,
    record_id: str | None,
    min_score: float,
    limit: int,
    home: Path,
    passphrase_files: tuple[Path, ...],
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """Pairs of records that may be one incident, best first, with the reasons (those
    of RECORD_ID only, if given)."""
    opened = _open(workspace, key_passphrase_file, actor)
    with open_book(opened, home, _phrases(passphrase_files)) as book:
        if record_id is None:
            found = suggest_duplicates(list(book.records.values()), min_score, limit + 1)
        else:
            found = duplicates_of(book.find(record_id), book.records.values(), min_score)
    _print_suggestions(found[:limit])
    more = " (the best shown; more below --min-score or --limit)" if len(found) > limit else ""
    click.echo(
        f"{min(len(found), limit)} likely duplicate pair(s){more}; "
        "link one with `incident link WS A B`"
    )


@incident.command("link")
@_WORKSPACE
@click.argument("first")
@click.argument("second")
@_HOME
@_PASSPHRASES
@_KEY_PASSPHRASE
@_ACTOR
def link(
    workspace: Path,
    first: str,
    second: str,
    home: Path,
    passphrase_files: tuple[Path, ...],
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """Link two records (and their incidents) as one incident: it counts once."""
    opened = _open(workspace, key_passphrase_file, actor)
    with open_book(opened, home, _phrases(passphrase_files)) as book:
        a, b = book.find(first), book.find(second)
        if a.id == b.id:
            raise click.ClickException("a record is one incident with itself")
        moved = book.link(a, b)
        book.commit()
        group = book.records[a.id].group
    if not moved:
        click.echo("already one incident")
    else:
        click.echo(f"linked: one incident {group} ({len(moved)} record(s) moved)")


@incident.command("unlink")
@_WORKSPACE
@click.argument("record_id")
@_HOME
@_PASSPHRASES
@_KEY_PASSPHRASE
@_ACTOR
def unlink(
    workspace: Path,
    record_id: str,
    home: Path,
    passphrase_files: tuple[Path, ...],
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """Take a record out of its incident: it counts on its own again."""
    opened = _open(workspace, key_passphrase_file, actor)
    with open_book(opened, home, _phrases(passphrase_files)) as book:
        record = book.find(record_id)
        done = book.unlink(record)
        book.commit()
    click.echo(f"unlinked {record.id}" if done else "not linked to any other record")


@incident.command("reseal")
@_WORKSPACE
@_HOME
@_PASSPHRASES
@_KEY_PASSPHRASE
@_ACTOR
def reseal(
    workspace: Path,
    home: Path,
    passphrase_files: tuple[Path, ...],
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """After a submission key rotation or revocation: seal the incident store and the
    release ledger, unchanged, to every submission key in force in --home (each secret
    key neither revoked nor expired), logged in the custody log."""
    opened = _open(workspace, key_passphrase_file, actor)
    phrases = _phrases(passphrase_files)
    with open_book(opened, home, phrases) as book:
        was = book.sealed_to
        keys = book.reseal()
        ledger = SealedLedger(opened, book.keyring, phrases).reseal()
    click.echo(f"store generation {book.generation}: {len(book.records)} record(s)")
    click.echo(f"  was sealed to: {', '.join(was) if was else 'not recorded'}")
    click.echo(f"  now sealed to: {', '.join(keys)}")
    click.echo("release ledger: " + ("resealed likewise" if ledger else "none yet"))


__all__ = ["incident"]
