"""The observatory at scale: coding and releasing 100,000 generated incident records on
the workstation, each step timed beside a baseline in the same run.

Generates records with realistic distributions: nine in ten in one country (CD), the
rest in other field countries (outside the release's scope); regions skewed (a few
provinces hold most reports) and periods skewed (a rising trend, and a spike in one
province in the third quarter, the kind of rise early warning looks for); a principal
act mostly rape, with the other International Protocol categories, a second act in a
quarter; mostly one female victim, some groups of several sexes and age bands; one
report in twenty a second report of an earlier incident, linked; about four sources in
five consenting to statistics. Then, with real gpg and a fresh submission key:

- code them into a workspace's sealed store in bulk (one `commit`: JSON, gpg, fsync,
  custody log), against writing the same JSON to a plain file with fsync;
- build the release rows (`to_release.release_rows`: incidents, consent, groups);
- for each dimension set (period x region x act; + sex; + age band), count and suppress
  (primary, complementary, exact audit: `build_release`) against counting the same table
  alone (`Table.from_cells`): the cost of protection;
- the differential-privacy variant (OpenDP) against the same release without noise;
- exports: the HXL CSV and JSON (validated with libhxl) against writing the same lines
  with `csv` / `json` alone;
- the SVG charts: time, and page weight in bytes.

Each comparison runs `--rounds` times (default 2), alternating the order (A B, then
B A, ...); the figures are medians. The machine, its load before and after, and the
other processes busy when the run started are printed, since the machine may be shared.

    .venv/bin/python -m bench.observatory [--records 100000] [--seed 23] [--rounds 2] \\
        [--dims period,region,act --dims period,region,act,victim_sex ...]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import io
import json
import os
import platform
import random
import statistics
import subprocess  # nosec B404
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from keys.gpg import kill_agent
from keys.lifecycle import generate_submission_key
from vault.consent_record import fold
from vault.regions import FIELD_COUNTRIES, REGIONS
from workstation.consent import ConsentReading
from workstation.custody_log import Workspace
from workstation.observatory.charts import charts
from workstation.observatory.export import hxl_rows, to_csv, to_json
from workstation.observatory.incidents import consent_of
from workstation.observatory.model import (
    Act,
    IncidentDate,
    IncidentRecord,
    Place,
    SourceLink,
    VictimGroup,
)
from workstation.observatory.release import (
    ReleaseSpec,
    build_release,
    categories,
    category_of,
    in_scope,
)
from workstation.observatory.release_input import ReleaseRow
from workstation.observatory.release_table import Table
from workstation.observatory.store import open_book
from workstation.observatory.to_release import release_rows

ROOT = Path(__file__).resolve().parent.parent

PASSPHRASE = "bench submission key passphrase"  # noqa: S105  # nosec B105 - a throwaway key
COUNTRY = "CD"
YEAR = 2025
DEFAULT_DIMS = ("period,region,act", "period,region,act,victim_sex", "period,region,act,age_band")
# A rising trend over the year (relative weights of the twelve months).
MONTH_WEIGHTS = [4, 4, 5, 5, 6, 6, 7, 8, 9, 9, 8, 7]
PRINCIPAL_ACTS = {
    "rape": 70,
    "sexual_slavery": 8,
    "forced_nudity": 6,
    "sexual_mutilation_torture": 5,
    "other": 5,
    "forced_prostitution": 3,
    "forced_pregnancy": 2,
    "enforced_sterilisation": 1,
}


# -- the machine ------------------------------------------------------------------------
def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover - not Linux
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs ({model}), {memory:.0f} GiB, "
        f"Python {platform.python_version()}"
    )


def busy_processes() -> str:
    """Other processes using 5 % of a CPU or more (what else ran)."""
    listing = subprocess.run(  # nosec B603 B607
        ["ps", "-eo", "pid,pcpu,comm", "--sort=-pcpu", "--no-headers"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    busy = []
    for line in listing.splitlines():
        pid, cpu, name = [*line.split(None, 2), "", ""][:3]
        if pid.isdigit() and int(pid) != os.getpid() and float(cpu or 0) >= 5.0:
            busy.append(f"{name.strip()} ({cpu}%)")
    return ", ".join(busy[:10]) or "none"


# -- the data ---------------------------------------------------------------------------
def _weights(rng: random.Random, names: Sequence[str]) -> dict[str, float]:
    """Skewed (Zipf-like): a few names take most of the weight."""
    shuffled = list(names)
    rng.shuffle(shuffled)
    return {name: 1 / (rank + 1) ** 1.1 for rank, name in enumerate(shuffled)}


def _date(rng: random.Random, month: int) -> str:
    first = dt.date(YEAR, month, 1)
    last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    day = first + dt.timedelta(days=rng.randrange(last.day))
    kind = rng.choices(["day", "month", "year", "range"], [55, 33, 5, 7])[0]
    if kind == "day":
        return day.isoformat()
    if kind == "month":
        return day.isoformat()[:7]
    if kind == "year":
        return str(YEAR)
    end = min(day + dt.timedelta(days=rng.randrange(1, 10)), last)
    return f"{day.isoformat()}/{end.isoformat()}"


def _victims(rng: random.Random) -> tuple[VictimGroup, ...]:
    groups: dict[tuple[str, str], int] = {}
    for _ in range(rng.choices([1, 2, 3, 6], [78, 13, 6, 3])[0]):
        sex = rng.choices(["female", "male", "other", "unknown"], [84, 12, 1, 3])[0]
        band = rng.choices(
            ["0-4", "5-11", "12-17", "18-29", "30-49", "50+", "unknown"], [1, 4, 20, 40, 22, 5, 8]
        )[0]
        groups[(sex, band)] = groups.get((sex, band), 0) + 1
    return tuple(VictimGroup(s, b, n) for (s, b), n in groups.items())


def generate(count: int, seed: int) -> tuple[list[IncidentRecord], dict[str, ConsentReading], str]:
    """Records, each source's latest consent reading, and the hotspot region."""
    rng = random.Random(seed)  # noqa: S311  # nosec B311 - generated data, not secrets
    regions = _weights(rng, sorted(REGIONS[COUNTRY]))
    hotspot = max(regions, key=lambda r: regions[r] if regions[r] < 0.5 else 0)
    others = [c for c in FIELD_COUNTRIES if c != COUNTRY]
    sources = [str(uuid.uuid4()) for _ in range(max(1, count * 3 // 4))]
    latest = {
        s: ConsentReading("2-x-msg.gpg", 2, "x", st, fold([st]), s)
        for s in sources
        for st in [{"statistics": rng.random() < 0.8}]
    }
    names, weights = list(regions), list(regions.values())
    acts, act_weights = list(PRINCIPAL_ACTS), list(PRINCIPAL_ACTS.values())
    more = [a for a in PRINCIPAL_ACTS if a != "rape"]
    records: list[IncidentRecord] = []
    for n in range(count):
        group = None
        if records and rng.random() < 0.05:  # the same incident, reported again: linked
            twin = rng.choice(records)
            place, date, record_acts = twin.place, IncidentDate.parse(twin.date.text), twin.acts
            group = twin.group
        else:
            month = rng.choices(range(1, 13), MONTH_WEIGHTS)[0]
            if rng.random() < 0.9:
                region = rng.choices(names, weights)[0]
                if month in (7, 8, 9) and rng.random() < 0.05:
                    region = hotspot  # a rise in one province
                place = Place(COUNTRY, region if rng.random() < 0.92 else None)
            else:
                country = rng.choice(others)
                place = Place(country, rng.choice(list(REGIONS[country])))
            date = IncidentDate.parse(_date(rng, month))
            victims = _victims(rng)
            perpetrators = (
                rng.choices(
                    ["armed_group", "state_forces", "police", "civilians", "unknown"],
                    [45, 25, 8, 10, 12],
                )[0],
            )
            principal = rng.choices(acts, act_weights)[0]
            extra = rng.sample(more, 1) if rng.random() < 0.25 else []
            categories_ = list(dict.fromkeys([principal, *extra]))
            record_acts = tuple(Act(c, victims, perpetrators) for c in categories_)
        record_id = str(uuid.uuid4())
        link = SourceLink(str(uuid.uuid4()), f"{n % 9 + 1}-bench_source-msg.gpg",
                          "bench_source", rng.choice(sources), "alert")  # fmt: skip
        records.append(
            IncidentRecord(
                id=record_id,
                group=group or record_id,
                date=date,
                place=place,
                acts=record_acts,
                source_type=rng.choice(["survivor", "witness", "family", "health"]),
                sources=(link,),
                coded_at=f"2026-01-01T00:00:{n:09d}",
                coded_by="bench",
            )
        )
    return records, latest, hotspot


# -- timing -----------------------------------------------------------------------------
class Bench:
    def __init__(self, rounds: int, out: Callable[[str], None]) -> None:
        self.rounds, self.out = rounds, out
        self.figures: dict[str, float] = {}

    def once(self, label: str, func: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = func()
        self.figures[label] = time.perf_counter() - start
        self.out(f"{label:<58} {self.figures[label]:9.3f} s")
        return value

    def compare(
        self, label: str, new: Callable[[], Any], baseline_label: str, baseline: Callable[[], Any]
    ) -> Any:
        """Median times of `new` and `baseline`, run in alternating order."""
        times: dict[str, list[float]] = {"new": [], "base": []}
        value = None
        for n in range(self.rounds):
            order = [("new", new), ("base", baseline)]
            for side, func in order if n % 2 == 0 else order[::-1]:
                start = time.perf_counter()
                result = func()
                times[side].append(time.perf_counter() - start)
                if side == "new":
                    value = result
        a, b = statistics.median(times["new"]), statistics.median(times["base"])
        self.figures[label] = a
        self.figures[f"{label} | baseline: {baseline_label}"] = b
        self.figures[f"{label} | ratio"] = a / b
        self.out(f"{label:<58} {a:9.3f} s | {baseline_label}: {b:9.3f} s | ratio {a / b:8.1f}")
        return value


def _plain_count(rows: Sequence[ReleaseRow], spec: ReleaseSpec) -> Table:
    """Counting alone: the same table as `build_release` counts, nothing hidden."""
    kept = [row for row in rows if in_scope(row, spec)]
    return Table.from_cells(
        spec.dimensions,
        categories(spec, kept),
        (
            (tuple(category_of(r, d, spec) for d in spec.dimensions), r.victim_count, r.incident_id)
            for r in kept
        ),
    )


def _plain_csv(document: dict[str, Any]) -> str:
    labels, tags, rows = hxl_rows(document)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(labels)
    writer.writerow(tags)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def _plain_json(document: dict[str, Any]) -> str:
    _, tags, rows = hxl_rows(document)
    return json.dumps([dict(zip(tags, row, strict=True)) for row in rows])


def run(
    records_count: int,
    seed: int,
    rounds: int,
    dim_sets: Sequence[str],
    out: Callable[[str], None] = print,
) -> dict[str, float]:
    bench = Bench(rounds, out)
    out(f"machine: {machine()}")
    out(f"load average before: {loadavg()}; other busy processes: {busy_processes()}")
    out(f"{records_count} records, seed {seed}, {rounds} alternating rounds (medians)")
    records, latest, hotspot = bench.once(
        "generate the records", lambda: generate(records_count, seed)
    )
    out(f"  hotspot region (rise in July-September): {hotspot}")
    with tempfile.TemporaryDirectory(prefix="bench-observatory-") as tmp:
        root = Path(tmp)
        home = root / "gnupg"
        generate_submission_key(home, PASSPHRASE, name="bench submission key")
        workspace = Workspace.create(root / "ws", "bench workstation passphrase", "bench")
        try:
            with open_book(workspace, home, [PASSPHRASE]) as book:
                # The bulk load: every record in one generation (one seal, one fsync); each
                # round adds one more record so that there is something to commit.
                book.records.update({r.id: r for r in records[1:]})
                spare = iter([records[0], *(_fresh(records[0]) for _ in range(rounds))])

                def seal() -> int:
                    book.add(next(spare))
                    return book.commit()

                plain = root / "plain.json"

                def plain_write() -> None:
                    payload = {
                        "format": "backup-incidents/1",
                        "records": [r.to_dict() for r in sorted(book.records.values(),
                                                                key=lambda r: r.id)],
                    }  # fmt: skip
                    fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(json.dumps(payload, sort_keys=True).encode("utf-8"))
                        handle.flush()
                        os.fsync(handle.fileno())

                bench.compare(
                    "code into the sealed store (bulk commit, gpg, fsync, log)",
                    seal,
                    "plain JSON file + fsync",
                    plain_write,
                )
                plain.unlink()
                stored = next((root / "ws" / "incidents").glob("store.*.gpg")).stat().st_size
                out(f"  sealed store: {stored:,} bytes, {len(book.records):,} records")
                coded = list(book.records.values())
        finally:
            kill_agent(home)
    consent = {r.id: consent_of(r, latest) for r in coded}
    rows = bench.once(
        "build release rows (incidents, consent)", lambda: release_rows(coded, consent)
    )
    usable = sum(1 for c in consent.values() if c.usable)
    out(f"  {len(rows):,} rows from {usable:,} consenting records of {len(coded):,}")
    first = None
    for dims in dim_sets:
        spec = ReleaseSpec(
            dimensions=tuple(dims.split(",")),
            first_month=f"{YEAR}-01",
            last_month=f"{YEAR}-12",
            countries=(COUNTRY,),
        )
        name = " x ".join(spec.dimensions)
        made = bench.compare(
            f"count + suppress: {name}",
            functools.partial(build_release, rows, spec),
            "counting alone",
            functools.partial(_plain_count, rows, spec),
        )
        s = made.document["suppression"]
        out(
            f"  {s['entries']:,} entries, {s['primary']:,} primary + "
            f"{s['complementary']:,} complementary hidden; "
            f"{made.document['records']:,} incidents behind it"
        )
        first = first or (spec, made)
    assert first is not None  # nosec B101 - at least one dimension set
    spec, made = first
    noisy = ReleaseSpec(**{**spec.__dict__, "epsilon": 1.0})
    dp = bench.compare(
        f"DP (OpenDP, epsilon 1): {' x '.join(spec.dimensions)}",
        lambda: build_release(rows, noisy),
        "the same without noise",
        lambda: build_release(rows, spec),
    )
    s = dp.document["suppression"]
    out(f"  {s['entries']:,} entries, {s['primary']:,} primary + {s['complementary']:,} "
        "complementary hidden (on noisy counts)")  # fmt: skip
    document = made.document
    csv_text = bench.compare(
        "export HXL CSV (libhxl-validated)",
        lambda: to_csv(document),
        "csv alone",
        lambda: _plain_csv(document),
    )
    json_text = bench.compare(
        "export HXL JSON (libhxl-validated)",
        lambda: to_json(document),
        "json alone",
        lambda: _plain_json(document),
    )
    out(f"  CSV {len(csv_text.encode()):,} bytes, HXL JSON {len(json_text.encode()):,} bytes")
    svgs = bench.once("SVG charts", lambda: charts(document))
    for chart, svg in sorted(svgs.items()):
        size = len(svg.encode("utf-8"))
        bench.figures[f"chart {chart} bytes"] = size
        out(f"  chart {chart}: {size:,} bytes")
    out(f"load average after: {loadavg()}")
    return bench.figures


def _fresh(record: IncidentRecord) -> IncidentRecord:
    new_id = str(uuid.uuid4())
    return IncidentRecord.build(**{**record.values(), "id": new_id, "group": new_id})


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (A B, B A)")
    parser.add_argument("--dims", action="append", help="a dimension set, comma-separated (repeat)")
    args = parser.parse_args()
    run(args.records, args.seed, max(1, args.rounds), args.dims or DEFAULT_DIMS)


if __name__ == "__main__":
    main()
