"""Coding incidents at scale: 100,000 generated records in one workspace.

Generates records with realistic distributions (most in the field countries, most dates
to the day or month, mostly one female victim, a share of reports of the same incident
told twice, a share of sources who said no to statistics), then times, with real gpg:

- validating every record (`IncidentRecord.build`);
- sealing the store (JSON, then gpg to a fresh submission key), beside a baseline:
  `json.dumps` alone and the `gpg` CLI encrypting the same JSON to the same key;
- opening it again (decrypt, parse, rebuild every record; unchecked, its hash is
  checked against the signed log), beside a baseline: gpg decrypting it and
  `json.loads` alone;
- coding one more record into a store that holds them all, with its likely duplicates
  (what each `incident add` costs an analyst at that size);
- with `--all-pairs`, suggesting duplicates over all of them;
- turning them into release rows (`to_release.release_rows`, consent given).

    .venv/bin/python -m bench.incident_coding [--records 100000] [--seed 19] [--all-pairs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess  # nosec B404
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from keys.gpg import kill_agent
from keys.lifecycle import generate_submission_key
from vault.consent_record import fold
from vault.regions import COUNTRIES, FIELD_COUNTRIES, REGIONS
from workstation.consent import ConsentReading
from workstation.custody_log import Workspace
from workstation.observatory.duplicates import duplicates_of, suggest_duplicates
from workstation.observatory.incidents import consent_of
from workstation.observatory.model import (
    Act,
    IncidentDate,
    IncidentRecord,
    Place,
    SourceLink,
    VictimGroup,
)
from workstation.observatory.store import open_book
from workstation.observatory.to_release import release_rows

ROOT = Path(__file__).resolve().parent.parent

PASSPHRASE = "bench submission key passphrase"  # noqa: S105  # nosec B105 - a throwaway key
T = TypeVar("T")


def timed(label: str, func: Callable[[], T], results: dict[str, float]) -> T:
    start = time.perf_counter()
    value = func()
    results[label] = time.perf_counter() - start
    print(f"{label:<44} {results[label]:8.2f} s", flush=True)
    return value


def _date(rng: random.Random) -> str:
    day = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randrange(4 * 365))
    kind = rng.choices(["day", "month", "year", "range"], [40, 35, 15, 10])[0]
    if kind == "day":
        return day.isoformat()
    if kind == "month":
        return day.isoformat()[:7]
    if kind == "year":
        return str(day.year)
    return f"{day.isoformat()}/{(day + dt.timedelta(days=rng.randrange(1, 90))).isoformat()}"


def _victims(rng: random.Random) -> tuple[VictimGroup, ...]:
    groups: dict[tuple[str, str], int] = {}
    for _ in range(rng.choices([1, 2, 3, 5], [80, 12, 5, 3])[0]):
        sex = rng.choices(["female", "male", "other", "unknown"], [84, 12, 1, 3])[0]
        band = rng.choices(
            ["0-4", "5-11", "12-17", "18-29", "30-49", "50+", "unknown"], [1, 4, 20, 40, 22, 5, 8]
        )[0]
        groups[(sex, band)] = groups.get((sex, band), 0) + 1
    return tuple(VictimGroup(s, b, n) for (s, b), n in groups.items())


def generate(count: int, seed: int) -> tuple[list[IncidentRecord], dict[str, ConsentReading]]:
    rng = random.Random(seed)  # noqa: S311  # nosec B311 - generated data, not secrets
    others = [c for c in COUNTRIES if c not in FIELD_COUNTRIES]
    sources = [str(uuid.uuid4()) for _ in range(count // 2)]
    latest = {
        s: ConsentReading("2-x-msg.gpg", 2, "x", st, fold([st]), s)
        for s in sources
        for st in [{"statistics": rng.random() > 0.3}]
    }
    records: list[IncidentRecord] = []
    for n in range(count):
        if records and rng.random() < 0.05:  # the same incident, reported again
            twin = rng.choice(records)
            place, date, acts = twin.place, IncidentDate.parse(twin.date.text), twin.acts
        else:
            country = rng.choice(FIELD_COUNTRIES) if rng.random() < 0.75 else rng.choice(others)
            regions = list(REGIONS[country])
            region = rng.choice(regions) if regions and rng.random() < 0.8 else None
            place, date = Place(country, region), IncidentDate.parse(_date(rng))
            victims = _victims(rng)
            perpetrators = (
                rng.choices(
                    ["armed_group", "state_forces", "police", "civilians", "unknown"],
                    [45, 25, 8, 10, 12],
                )[0],
            )
            more = ["sexual_slavery", "forced_nudity", "sexual_mutilation_torture", "other"]
            categories = ["rape", *rng.sample(more, rng.choices([0, 1, 2], [70, 25, 5])[0])]
            acts = tuple(Act(c, victims, perpetrators) for c in categories)
        record_id = str(uuid.uuid4())
        source = rng.choice(sources)
        link = SourceLink(str(uuid.uuid4()), f"{n % 9 + 1}-bench_source-msg.gpg", "bench_source",
                          source, "alert")  # fmt: skip
        records.append(
            IncidentRecord(
                id=record_id,
                group=record_id,
                date=date,
                place=place,
                acts=acts,
                source_type=rng.choice(["survivor", "witness", "family", "health"]),
                sources=(link,),
                coded_at=f"2026-01-01T00:00:{n:09d}",
                coded_by="bench",
            )
        )
    return records, latest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--all-pairs", action="store_true", help="also every likely pair")
    args = parser.parse_args()
    results: dict[str, float] = {}
    print(f"{args.records} records, seed {args.seed}")
    records, latest = generate(args.records, args.seed)
    checked = timed(
        "validate every record (build)",
        lambda: [IncidentRecord.build(**r.values()) for r in records],
        results,
    )
    with tempfile.TemporaryDirectory(prefix="bench-incidents-") as tmp:
        root = Path(tmp)
        home = root / "gnupg"
        key = generate_submission_key(home, PASSPHRASE, name="bench submission key")
        workspace = Workspace.create(root / "ws", "bench workstation passphrase", "bench")
        try:
            with open_book(workspace, home, [PASSPHRASE]) as book:
                book.records.update({r.id: r for r in checked[1:]})
                book.add(checked[0])
                timed("seal the store (gpg)", book.commit, results)
            sealed = next((root / "ws" / "incidents").glob("store.*.gpg"))
            plain = root / "ws" / "plain.json"  # the baseline's input, removed below
            payload = {"format": "backup-incidents/1", "records": [r.to_dict() for r in checked]}
            plain.write_text(json.dumps(payload, sort_keys=True))
            gpg = ["gpg", "--homedir", str(home), "--batch", "--yes", "--trust-model", "always"]
            encrypt = [*gpg, "--compress-algo", "none", "-r", key.fingerprint]
            encrypt += ["-o", str(root / "baseline.gpg"), "-e", str(plain)]
            timed(
                "  baseline: gpg CLI encrypting the same JSON",
                lambda: subprocess.run(encrypt, check=True),  # nosec B603
                results,
            )
            text = plain.read_text()
            plain.unlink()
            timed(
                "  baseline: json.dumps alone", lambda: json.dumps(payload, sort_keys=True), results
            )
            print(f"  store: {sealed.stat().st_size / 2**20:.1f} MiB sealed")

            def reopen() -> int:
                with open_book(workspace, home, [PASSPHRASE]) as book:
                    return len(book.records)

            if timed("open it (decrypt, parse, rebuild)", reopen, results) != args.records:
                raise SystemExit("the store did not give back every record")
            decrypt = [*gpg, "--pinentry-mode", "loopback", "--passphrase", PASSPHRASE]
            decrypt += ["-o", "/dev/null", "-d", str(sealed)]
            timed(
                "  baseline: gpg CLI decrypting it",
                lambda: subprocess.run(decrypt, check=True, capture_output=True),  # nosec B603
                results,
            )
            timed("  baseline: json.loads alone", lambda: json.loads(text), results)

            def one_more() -> int:
                with open_book(workspace, home, [PASSPHRASE]) as book:
                    new_id = str(uuid.uuid4())
                    values = {**checked[0].values(), "id": new_id, "group": new_id}
                    kept = book.add(IncidentRecord.build(**values))
                    book.commit()
                    return len(duplicates_of(kept, book.records.values()))

            likely = timed("code one more record (add: open, seal, duplicates)", one_more, results)
            print(f"  {likely} likely duplicates of it")
        finally:
            kill_agent(home)
    if args.all_pairs:
        found = timed(
            "suggest duplicates (whole workspace)", lambda: suggest_duplicates(checked), results
        )
        print(f"  {len(found)} likely duplicate pairs (score >= 0.5)")
    consent = {r.id: consent_of(r, latest) for r in checked}
    rows = timed(
        "release rows (counted incidents)", lambda: release_rows(checked, consent), results
    )
    print(f"  {len(rows)} rows from {sum(1 for c in consent.values() if c.usable)} usable records")
    seal = results["seal the store (gpg)"] / (
        results["  baseline: json.dumps alone"]
        + results["  baseline: gpg CLI encrypting the same JSON"]
    )
    reopen_ratio = results["open it (decrypt, parse, rebuild)"] / (
        results["  baseline: gpg CLI decrypting it"] + results["  baseline: json.loads alone"]
    )
    print(f"ratios to the baselines: seal {seal:.2f}, open {reopen_ratio:.2f}")


if __name__ == "__main__":
    main()
