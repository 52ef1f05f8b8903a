"""An analyst's day, counted: clicks, page loads, form fields and characters typed in
the reviewer interface (a passphrase or a TOTP code counts as a field, not as its
random length), and the commands (with their characters) typed on the
workstation, for the same scripted day on two versions of the product side by side.

Each run is a fresh `backupctl run` instance (as bench/tor_speed_uploads.py starts it:
BACKUP_DEV_TOR=0, free ports on 127.0.0.1, the apps under `backupctl serve`, production
settings) of one tree. The baseline runs in a git worktree of `--baseline-commit`
(default 66e6767, `git worktree add --detach` in a temporary directory, the same venv),
the new day in this tree; the order alternates over `--repeat` runs.

Setup, not counted: accounts made with `backupctl admin create` (analyst1, analyst2,
admin1, a setup admin, the clinic's partner), the clinic and its member made over HTTP
on the partner directory, and six new sources, each over HTTP on its own circuit (a
PROXY line, as tor sends) through the real source app:

- S1, S2, S3: a message each (S3 speaks of the same events as S1);
- S4: an ASSIST request on the evidence path consenting to everything, court included;
- S5: an urgent ASSIST request on the care path consenting to a referral and contact;
- S6: a question (a message).

The day, counted, in Debian's Chromium with JavaScript disabled (bench/care_clicks.py's
counting tab): analyst1 logs in; takes S5's request from the care queue, answers it,
refers it to the clinic, and sets the case it became (priority, assignee, status that
follows the referral); triages S1, S2, S4 into cases (priority, urgent flag, labels,
assignee, due date, status), adds S3 to S1's case, replies to S1, S2 and S6; exports S4
for the workstation; the partner logs in and accepts the referral; analyst1 sees it on
the dashboard; on the workstation: a workspace, the receipt key trusted, the bundle
imported, decrypted and made into a judicial file (each `backupctl custody` command
counted with the characters typed: paths as an analyst would type them; on the
baseline the 64-digit fingerprint and the 36-character item ids in full, on the
workbench their 16- and 8-character prefixes); admin1 logs in and reads the audit log,
filtered. Both sides must end the day in the same state (`Day.end_state`).

`Day` is the script; `BaselineDay` says how each step is done in the interface of
66e6767, `WorkbenchDay` in the new one (each step a method; the workbench overrides
those it changes).

    .venv/bin/python -m bench.reviewer_day [--repeat 3] [--baseline-commit 66e6767]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
from playwright.sync_api import Browser, expect, sync_playwright

from bench.care_accounts import Account, Reviewer, create_account, csrf
from bench.care_clicks import CHROMIUM, CHROMIUM_ARGS, Clicks, CountedPage
from bench.tor_speed_uploads import BackUp, CircuitConnection, fetch, loadavg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

DEFAULT_BASELINE = "66e6767"
WORKSTATION_PASSPHRASE = "workstation key passphrase for the bench"  # noqa: S105  # nosec B105
# What an analyst types for the paths the bench's temporary directories stand for.
TYPED_WORKSPACE = "~/custody"
TYPED_TRANSFER = "/media/usb"
TYPED_HOME = "/media/ws/gnupg"
TYPED_PASSPHRASE_FILE = "/media/ws/passphrase"  # noqa: S105  # nosec B105

_CONSENT_ALL = {
    "consent_handle_case": "yes",
    "consent_refer_partner": "yes",
    "consent_contact_partner": "yes",
    "consent_statistics": "yes",
    "consent_court": "yes",
}
_ASSIST = {"needs": "medical", "urgency": "today", "recent": "yes", "contact": "other"}


# -- the counts ----------------------------------------------------------------------


@dataclass
class Commands:
    count: int = 0
    typed: int = 0  # characters of the command lines as the analyst types them
    lines: list[str] = field(default_factory=list)


@dataclass
class Counts:
    clicks: Clicks
    commands: Commands
    # What the day left behind (`Day.end_state`): the same on both sides.
    state: dict[str, object] = field(default_factory=dict)

    def row(self) -> dict[str, int]:
        return {
            "clicks": self.clicks.clicks,
            "page loads": self.clicks.loads,
            "form fields": self.clicks.fields,
            "characters typed": self.clicks.typed,  # passphrases and codes aside
            "commands": self.commands.count,
            "command characters": self.commands.typed,
        }


# -- the product and its setup ---------------------------------------------------------


@dataclass
class Sources:
    """The six sources' designations (as the inbox shows them), by role in the day."""

    by_role: dict[str, str]


class Product(BackUp):
    """`backupctl run` of one tree; the day's accounts and sources made in it."""

    def __init__(self, work: Path, root: Path) -> None:
        super().__init__(work, root=root)
        self.work = work
        self.journalist_url = f"http://127.0.0.1:{self.journalist_port}"
        self.accounts = {
            name: create_account(self, name, role)
            for name, role in [
                ("analyst1", "analyst"),
                ("analyst2", "analyst"),
                ("admin1", "admin"),
                ("setup-admin", "admin"),
                ("clinic-nurse", "partner"),
            ]
        }
        self._clinic()
        self.sources = self._sources()

    def _clinic(self) -> None:
        """The partner directory, as an admin fills it (over HTTP; not counted)."""
        admin = Reviewer(self.journalist_port)
        admin.login(self.accounts["setup-admin"])
        page = admin.page("/partners/")
        admin.page(
            "/partners/new",
            {"csrf_token": csrf(page), "name": "Clinic Kigali", "services": "medical"},
        )
        page = admin.page("/partners/")
        org = re.search(r'<option value="([0-9a-f-]{36})">Clinic Kigali<', page)
        nurse = re.search(r'<option value="([0-9a-f-]{36})">clinic-nurse<', page)
        if not org or not nurse:
            raise RuntimeError("the clinic or its member is not on the partner directory")
        admin.page(
            "/partners/members",
            {"csrf_token": csrf(page), "account": nurse.group(1), "org": org.group(1)},
        )
        admin.conn.close()

    def _sources(self) -> Sources:
        sent = [
            ("S1", "/submit", {"msg": "Armed men took three women at the Kibati checkpoint."}),
            ("S2", "/submit", {"msg": "My sister was attacked near the market in Bukavu."}),
            ("S3", "/submit", {"msg": "I saw the checkpoint at Kibati that night, too."}),
            ("S4", "/help/form", {**_ASSIST, **_CONSENT_ALL, "care_path": "evidence"}),
            (
                "S5",
                "/help/form",
                {**_ASSIST, **_CONSENT_ALL, "consent_court": "no", "care_path": "care"},
            ),
            ("S6", "/submit", {"msg": "Can I send photos later from another phone?"}),
        ]
        for circuit, (_role, path, form) in enumerate(sent, start=1):
            conn, cookies = CircuitConnection(self.port, circuit), dict[str, str]()
            try:
                token = csrf(fetch(conn, "GET", "/generate", cookies))
                fetch(conn, "POST", "/create", cookies, {"csrf_token": token})
                page = "/help/form" if path == "/help/form" else "/lookup"
                token = csrf(fetch(conn, "GET", page, cookies))
                fields = {**form, "csrf_token": token}
                if "contact" in form:
                    fields["contact_details"] = f"bench source {circuit}: ask for Aline"
                fetch(conn, "POST", path, cookies, fields)
            finally:
                conn.close()
        with contextlib.closing(sqlite3.connect(self.instance / "backup.sqlite")) as db:
            names = [row[0] for row in db.execute("SELECT designation FROM sources ORDER BY id")]
        if len(names) != len(sent):
            raise RuntimeError(f"{len(names)} sources for {len(sent)} sent")
        return Sources({role: name for (role, _p, _f), name in zip(sent, names, strict=True)})


class Workstation:
    """`backupctl custody` commands, run for real, counted as the analyst types them."""

    def __init__(self, product: Product, commands: Commands) -> None:
        self.product, self.commands = product, commands
        self.dir = product.work / "workstation"
        self.dir.mkdir()
        self.workspace = self.dir / "custody"
        self.transfer = self.dir / "transfer"
        self.transfer.mkdir()
        self.key_file = self.dir / "key-passphrase"
        self.key_file.write_text(WORKSTATION_PASSPHRASE + "\n")
        self.home = product.instance / "dev-workstation-gnupg"
        self.passphrase_file = product.instance / "dev-workstation-passphrase"

    def run(self, *args: str) -> str:
        """`backupctl custody ARGS`; the workstation key's passphrase from its file (the
        prompt it replaces is not counted: the same on both sides)."""
        argv = [sys.executable, "-m", "backupctl", "custody", *args]
        argv += ["--key-passphrase-file", str(self.key_file)]
        done = subprocess.run(
            argv, cwd=self.product.root, env=self.product.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"backupctl custody {args[0]}: {done.stdout}{done.stderr}")
        typed = shlex.join(["backupctl", "custody", *args])
        for real, shown in [
            (str(self.workspace), TYPED_WORKSPACE),
            (str(self.transfer), TYPED_TRANSFER),
            (str(self.home), TYPED_HOME),
            (str(self.passphrase_file), TYPED_PASSPHRASE_FILE),
        ]:
            typed = typed.replace(real, shown)
        self.commands.count += 1
        self.commands.typed += len(typed)
        self.commands.lines.append(typed)
        return done.stdout

    def receipt_key(self) -> tuple[Path, str]:
        """The server's receipt key and its fingerprint as the admin reads them out (on
        the server: not the analyst's command)."""
        pem = self.dir / "receipt-key.pem"
        done = subprocess.run(
            [sys.executable, "-m", "backupctl", "custody", "receipt-key", "--export", str(pem)],
            cwd=self.product.root,
            env=self.product.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return pem, done.stdout.splitlines()[0].strip()


# -- the day -----------------------------------------------------------------------------


@dataclass
class Triage:
    """What the analyst decides for a source after reading it."""

    role: str
    priority: str
    urgent: bool
    labels: list[str]
    assignee: str
    due_days: int
    status_path: list[str]  # the statuses the case goes through, in order


TRIAGE = [
    Triage("S1", "high", True, ["north-kivu", "abduction"], "analyst2", 3, ["triage"]),
    Triage("S2", "normal", False, ["south-kivu"], "analyst1", 7, ["triage"]),
    Triage("S4", "high", False, ["judicial"], "analyst1", 14, ["triage", "verified", "judicial"]),
]
REPLIES = {
    "S1": "We read your message. Are you somewhere safe now?",
    "S2": "Thank you. Can you tell us when it happened?",
    "S6": "Yes: come back with your codename and send them here.",
}


class Day:
    """The script. Each step is a method of the version of the interface (`BaselineDay`,
    `WorkbenchDay`); `tab()` opens a counted tab for one person."""

    name = ""

    def __init__(self, product: Product, browser: Browser, counts: Counts) -> None:
        self.product, self.browser, self.counts = product, browser, counts
        self.workstation = Workstation(product, counts.commands)
        self.case_urls: dict[str, str] = {}
        self.bundle: Path | None = None

    def tab(self) -> CountedPage:
        context = self.browser.new_context(java_script_enabled=False, accept_downloads=True)
        return CountedPage(context.new_page(), self.counts.clicks)

    def designation(self, role: str) -> str:
        return self.product.sources.by_role[role]

    def play(self) -> None:
        analyst = self.log_in("analyst1")
        referral = self.care_request(analyst, "S5")
        for plan in TRIAGE:
            self.triage(analyst, plan)
            if plan.role in REPLIES:
                self.reply(analyst, plan.role, REPLIES[plan.role])
            if plan.role == "S1":
                self.add_to_case(analyst, "S3", "S1")
        self.reply_from_inbox(analyst, "S6", REPLIES["S6"])
        self.export(analyst, "S4")
        partner = self.log_in("clinic-nurse")
        self.accept_referral(partner, referral)
        self.see_partner_news(analyst)
        self.judicial_file()
        self.read_audit_log(self.log_in("admin1"))
        self.counts.state = self.end_state()

    def end_state(self) -> dict[str, object]:
        """The cases (their sources by role, priority, urgency, labels, assignees, due
        date in days from opening, status), the
        referrals' statuses, the replies by source and the judicial files made: what
        both interfaces must leave the same."""
        role_of = {name: role for role, name in self.product.sources.by_role.items()}
        with contextlib.closing(sqlite3.connect(self.product.instance / "backup.sqlite")) as db:
            cases = []
            for case_id, priority, urgent, due, created, status in db.execute(
                "SELECT id, priority, urgent_medical, due_at, created_at, status FROM cases"
            ):
                sources = sorted(
                    role_of[row[0]]
                    for row in db.execute(
                        "SELECT s.designation FROM case_sources cs JOIN sources s"
                        " ON s.id = cs.source_id WHERE cs.case_id = ?",
                        (case_id,),
                    )
                )
                labels = sorted(
                    row[0]
                    for row in db.execute(
                        "SELECT label FROM case_labels WHERE case_id = ?", (case_id,)
                    )
                )
                assignees = sorted(
                    row[0]
                    for row in db.execute(
                        "SELECT r.username FROM case_assignees ca JOIN reviewers r"
                        " ON r.id = ca.reviewer_id WHERE ca.case_id = ?",
                        (case_id,),
                    )
                )
                days = (
                    (dt.date.fromisoformat(due[:10]) - dt.date.fromisoformat(created[:10])).days
                    if due
                    else None
                )
                cases.append(
                    (
                        sources,
                        priority.lower(),
                        bool(urgent),
                        labels,
                        assignees,
                        days,
                        status.lower(),
                    )
                )
            referrals = sorted(row[0].lower() for row in db.execute("SELECT status FROM referrals"))
            replies = sorted(
                role_of[row[0]]
                for row in db.execute(
                    "SELECT s.designation FROM replies r JOIN sources s ON s.id = r.source_id"
                )
            )
        judicial = sorted((self.workstation.workspace / "judicial").glob("*.zip"))
        return {
            "cases": sorted(cases),
            "referrals": referrals,
            "replies": replies,
            "judicial files": len(judicial),
        }

    # The steps: BaselineDay says how each is done in the interface of 66e6767.
    def log_in(self, username: str) -> CountedPage:
        raise NotImplementedError

    def care_request(self, tab: CountedPage, role: str) -> str:
        raise NotImplementedError

    def triage(self, tab: CountedPage, plan: Triage) -> None:
        raise NotImplementedError

    def add_to_case(self, tab: CountedPage, role: str, case_of: str) -> None:
        raise NotImplementedError

    def reply(self, tab: CountedPage, role: str, text: str) -> None:
        raise NotImplementedError

    def reply_from_inbox(self, tab: CountedPage, role: str, text: str) -> None:
        raise NotImplementedError

    def export(self, tab: CountedPage, role: str) -> None:
        raise NotImplementedError

    def accept_referral(self, tab: CountedPage, reference: str) -> None:
        raise NotImplementedError

    def see_partner_news(self, tab: CountedPage) -> None:
        raise NotImplementedError

    def judicial_file(self) -> None:
        raise NotImplementedError

    def read_audit_log(self, tab: CountedPage) -> None:
        raise NotImplementedError


class BaselineDay(Day):
    """The interface of 66e6767: one form per field of a case, statuses moved one by
    one, the referral's status apart from the case's."""

    name = "baseline"

    def log_in(self, username: str) -> CountedPage:
        account: Account = self.product.accounts[username]
        tab = self.tab()
        tab.page.goto(self.product.journalist_url + "/login")
        tab.counts.steps.append(f"open the login page ({username})")
        tab.fill("input[name=username]", account.username, "username")
        tab.fill("input[name=passphrase]", account.passphrase, "passphrase", secret=True)
        tab.fill("input[name=code]", pyotp.TOTP(account.otp_secret).now(), "code", secret=True)
        tab.click("main form button[type=submit]", "Log in")
        expect(tab.page.locator("input[name=code]")).to_have_count(0)
        return tab

    def _open_source(self, tab: CountedPage, role: str) -> None:
        tab.click("nav a[href='/']", "Sources")
        tab.click(f"table a:text-is('{self.designation(role)}')", f"source {role}")

    def _move(self, tab: CountedPage, status: str) -> None:
        tab.click(
            f"form[action$='/status']:has(input[name=status][value={status}]) button",
            f"Move to {status}",
        )

    def _set_case(self, tab: CountedPage, plan: Triage) -> None:
        """On the case page: each field its own form."""
        if plan.priority != "normal":
            tab.choose("select[name=priority]", plan.priority, "priority")
            tab.click("form[action$='/priority'] button", "Save priority")
        due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=plan.due_days)).strftime("%Y-%m-%d")
        tab.fill("input[name=due]", due, "due date")
        tab.click("form[action$='/due'] button", "Save due date")
        tab.choose("select[name=reviewer]", self._uuid_of(tab, plan.assignee), "assignee")
        tab.click("form[action$='/assign'] button", "Assign")
        for label in plan.labels:
            tab.fill("form[action$='/labels'] input[name=label]", label, "label")
            tab.click("form[action$='/labels'] button", "Add label")
        for status in plan.status_path:
            self._move(tab, status)

    def _uuid_of(self, tab: CountedPage, username: str) -> str:
        option = tab.page.locator(f"select[name=reviewer] option:text-is('{username}')")
        value = option.get_attribute("value")
        assert value, username
        return value

    def care_request(self, tab: CountedPage, role: str) -> str:
        if not tab.page.url.endswith("/care/"):
            tab.click("nav a[href='/care/']", "Care queue")
        tab.click(
            f"article.care-request.urgent:has-text('{self.designation(role)}') h2 a", "request"
        )
        tab.click("button:has-text('Take it')", "Take it")
        tab.fill("textarea[name=message]", "A nurse can see you today at the clinic.", "answer")
        tab.click("button:has-text('Send encrypted answer')", "Send encrypted answer")
        tab.choose("select[name=org]", "Clinic Kigali", "partner")
        tab.click("form[action$='/refer'] button", "Refer")
        expect(tab.page.locator(".flash.success")).to_be_visible()
        reference = re.search(r"BU-\d{4}-\d{4}", tab.page.locator("main").inner_text())
        assert reference, "the referral page names its case"
        # The case the request became: urgent, but normal and unassigned; its status
        # does not follow the referral (three moves to Referred).
        tab.click("nav a[href='/cases/']", "Cases")
        tab.click(f"table a:text-is('{reference.group(0)}')", "the case")
        plan = Triage(role, "high", True, ["medical"], "analyst1", 1, [])
        self._set_case(tab, plan)
        for status in ("triage", "verified", "referred"):
            self._move(tab, status)
        return reference.group(0)

    def triage(self, tab: CountedPage, plan: Triage) -> None:
        self._open_source(tab, plan.role)
        if plan.urgent:
            tab.tick("input[name=urgent_medical]", "Urgent medical need")
        tab.click("button:has-text('Create a case from this source')", "Create a case")
        self.case_urls[plan.role] = tab.page.url
        self._set_case(tab, plan)

    def add_to_case(self, tab: CountedPage, role: str, case_of: str) -> None:
        self._open_source(tab, role)
        reference = self._reference(case_of)
        tab.fill("input[name=case]", reference, "case reference")
        tab.click("button:has-text('Add to this case')", "Add to this case")

    def _reference(self, role: str) -> str:
        with contextlib.closing(sqlite3.connect(self.product.instance / "backup.sqlite")) as db:
            uuid = self.case_urls[role].rstrip("/").rsplit("/", 1)[1]
            row = db.execute("SELECT reference FROM cases WHERE uuid = ?", (uuid,)).fetchone()
        return str(row[0])

    def reply(self, tab: CountedPage, role: str, text: str) -> None:
        tab.click("main a[href^='/sources/']", f"source {role} (from its case)")
        tab.fill("textarea[name=message]", text, "reply")
        tab.click("button:has-text('Send reply')", "Send reply")

    def reply_from_inbox(self, tab: CountedPage, role: str, text: str) -> None:
        self._open_source(tab, role)
        tab.fill("textarea[name=message]", text, "reply")
        tab.click("button:has-text('Send reply')", "Send reply")

    def export(self, tab: CountedPage, role: str) -> None:
        self._open_source(tab, role)
        download = tab.download("button:has-text('Export for the workstation')", "Export")
        self.bundle = self.workstation.transfer / download.suggested_filename
        download.save_as(self.bundle)

    def accept_referral(self, tab: CountedPage, reference: str) -> None:
        tab.click("nav a[href='/referrals/']", "Referrals")  # lands on an empty inbox
        tab.click(f"table a:text-is('{reference}')", "the referral")
        tab.click("button:has-text('Mark as Accepted')", "Mark as Accepted")
        expect(tab.page.locator(".referral-status")).to_have_text("Accepted")

    def see_partner_news(self, tab: CountedPage) -> None:
        tab.click("nav a[href='/dashboard/']", "Dashboard")

    def judicial_file(self) -> None:
        ws, bundle = self.workstation, self.bundle
        assert bundle is not None, "export first"
        pem, fingerprint = ws.receipt_key()
        shutil.copy(pem, ws.transfer / pem.name)
        ws.run("init", str(ws.workspace))
        ws.run(
            "trust", str(ws.workspace), str(ws.transfer / pem.name), "--fingerprint", fingerprint
        )
        imported = ws.run("import", str(ws.workspace), str(bundle))
        items = re.findall(r"imported (?:message|document) ([0-9a-f-]{36})", imported)
        assert items, imported
        ws.run(
            "decrypt",
            str(ws.workspace),
            *items,
            "--home",
            str(ws.home),
            "--passphrase-file",
            str(ws.passphrase_file),
        )
        made = ws.run("judicial", str(ws.workspace), *items, "--title", "Case of S4")
        # The file's path, first; the consent it relied on follows.
        with zipfile.ZipFile(made.strip().splitlines()[0]) as judicial:
            assert "JUDICIAL-MANIFEST.json" in judicial.namelist()

    def read_audit_log(self, tab: CountedPage) -> None:
        tab.click("nav a[href='/admin/audit/']", "Audit log")
        tab.fill("input[name=action]", "referral_status_changed", "action")
        tab.click("main form button[type=submit]", "Filter")
        expect(tab.page.locator("tr.event")).not_to_have_count(0)


class WorkbenchDay(BaselineDay):
    """The workbench's interface: analysts land on the dashboard (or the care queue
    while a request waits untaken) and partners on their referrals; answering a care
    request takes it, and a partner chosen in the answer form refers it; a case opens
    in one form with its urgency, priority, labels, assignees, due date and status
    (Triage by default; the moves from New recorded one by one), the creator assigned
    by default and an urgent case at High; the case page's one edit form, a reply form
    per source and "Add a source" by designation; referring moves the case to
    Referred; the partner accepts in the list; the audit log's category links; on the
    workstation, 8-character item ids and the fingerprint's first 16 characters."""

    name = "workbench"

    def _untick(self, tab: CountedPage, selector: str, what: str) -> None:
        """Untick a checkbox: a click that loads nothing."""
        tab.page.locator(selector).uncheck()
        tab.counts.clicks += 1
        tab.counts.steps.append(f"untick {what}")

    @staticmethod
    def _due(plan: Triage) -> str:
        return (dt.datetime.now(dt.UTC) + dt.timedelta(days=plan.due_days)).strftime("%Y-%m-%d")

    def care_request(self, tab: CountedPage, role: str) -> str:
        """From landing (the care queue, or the dashboard's waiting requests), one click
        to the request; the answer takes it and, with the clinic chosen, refers it."""
        name = self.designation(role)
        if tab.page.url.endswith("/care/"):
            tab.click(f"article.care-request.urgent:has-text('{name}') h2 a", "request")
        else:
            if not tab.page.url.endswith("/dashboard/"):
                tab.click("nav a[href='/dashboard/']", "Dashboard")
            tab.click(f".care-requests li.urgent a:has-text('{name}')", "request")
        form = "form.care-answer"
        text = "A nurse can see you today at the clinic."
        tab.fill(f"{form} textarea[name=message]", text, "answer")
        tab.choose(f"{form} select[name=org]", "Clinic Kigali", "partner")
        tab.click(f"{form} button[type=submit]", "Send encrypted answer (and refer)")
        expect(tab.page.locator(".flash.success")).to_have_count(2)
        reference = re.search(r"BU-\d{4}-\d{4}", tab.page.locator("main").inner_text())
        assert reference, "the referral page names its case"
        # The case is urgent, at High, assigned to whoever referred it and Referred
        # already: only its label and due date are left, in the one edit form.
        tab.click("p.case-link a", "the case (from its referral)")
        plan = Triage(role, "high", True, ["medical"], "analyst1", 1, [])
        form = "form.edit-case"
        tab.fill(f"{form} input[name=labels]", " ".join(plan.labels), "labels")
        tab.fill(f"{form} input[name=due]", self._due(plan), "due date")
        tab.click(f"{form} button[type=submit]", "Save changes")
        expect(tab.page.locator(".flash.success")).to_be_visible()
        return reference.group(0)

    def triage(self, tab: CountedPage, plan: Triage) -> None:
        """The source page's Create a case form, open and ready: one submit."""
        self._open_source(tab, plan.role)
        form = "form.new-case"
        if plan.urgent:
            tab.tick(f"{form} input[name=urgent_medical]", "Urgent medical need")
        if plan.priority != ("high" if plan.urgent else "normal"):  # not "Automatic"
            tab.choose(f"{form} select[name=priority]", plan.priority, "priority")
        tab.fill(f"{form} input[name=labels]", " ".join(plan.labels), "labels")
        boxes = f"{form} fieldset.assignees label.check"
        for box in tab.page.locator(boxes).all():
            who = box.inner_text().strip()
            checked = box.locator("input").is_checked()
            if checked != (who == plan.assignee):
                selector = f"{boxes}:text-is('{who}') input"
                if checked:
                    self._untick(tab, selector, f"assignee {who}")
                else:
                    tab.tick(selector, f"assignee {who}")
        tab.fill(f"{form} input[name=due]", self._due(plan), "due date")
        # The status it opens at (Triage by default): the case walks the moves to it.
        if plan.status_path[-1] != "triage":
            tab.choose(f"{form} select[name=status]", plan.status_path[-1], "status")
        tab.click(f"{form} button[type=submit]", "Create a case from this source")
        expect(tab.page.locator("form.edit-case")).to_have_count(1)
        self.case_urls[plan.role] = tab.page.url

    def reply(self, tab: CountedPage, role: str, text: str) -> None:
        """On the case page (where triage left the analyst): the source's reply form."""
        form = f"form.case-reply:has(label:text-is('Reply to {self.designation(role)}'))"
        tab.fill(f"{form} textarea[name=message]", text, "reply")
        tab.click(f"{form} button[type=submit]", "Send reply (on the case page)")
        expect(tab.page.locator(".flash.success")).to_be_visible()

    def add_to_case(self, tab: CountedPage, role: str, case_of: str) -> None:
        """On the case page of `case_of` (where its reply left the analyst): the source's
        designation, picked from the field's list, and one click."""
        assert tab.page.url == self.case_urls[case_of], "on the case page"
        form = "form.add-source"
        tab.fill(f"{form} input[name=designation]", self.designation(role), "designation")
        tab.click(f"{form} button[type=submit]", "Add to this case")
        expect(tab.page.locator(".flash.success")).to_be_visible()

    def accept_referral(self, tab: CountedPage, reference: str) -> None:
        # The partner landed on their referrals: "Accept" in the referral's row.
        expect(tab.page.locator("h1")).to_have_text(re.compile("Referrals"))
        row = f"tr.referral:has(a:text-is('{reference}'))"
        tab.click(f"{row} button:has-text('Accept')", "Accept (in the list)")
        expect(tab.page.locator(f"{row} .referral-status")).to_have_text("Accepted")

    def see_partner_news(self, tab: CountedPage) -> None:
        tab.click("nav a[href='/dashboard/']", "Dashboard")
        expect(tab.page.locator(".partner-activity .badge.referral")).to_have_text("Accepted")

    def judicial_file(self) -> None:
        ws, bundle = self.workstation, self.bundle
        assert bundle is not None, "export first"
        pem, fingerprint = ws.receipt_key()
        shutil.copy(pem, ws.transfer / pem.name)
        ws.run("init", str(ws.workspace))
        short_fingerprint = fingerprint.replace(" ", "")[:16]
        ws.run(
            "trust",
            str(ws.workspace),
            str(ws.transfer / pem.name),
            "--fingerprint",
            short_fingerprint,
        )
        imported = ws.run("import", str(ws.workspace), str(bundle))
        items = re.findall(r"imported (?:message|document) ([0-9a-f]{8}) ", imported)
        assert items, imported
        ws.run(
            "decrypt",
            str(ws.workspace),
            *items,
            "--home",
            str(ws.home),
            "--passphrase-file",
            str(ws.passphrase_file),
        )
        made = ws.run("judicial", str(ws.workspace), *items, "--title", "Case of S4")
        # The file's path, first; the consent it relied on follows.
        with zipfile.ZipFile(made.strip().splitlines()[0]) as judicial:
            assert "JUDICIAL-MANIFEST.json" in judicial.namelist()

    def read_audit_log(self, tab: CountedPage) -> None:
        tab.click("nav a[href='/admin/audit/']", "Audit log")
        tab.click(".category-links a[href$='category=referrals']", "Referrals (category link)")
        expect(tab.page.locator("tr.event")).not_to_have_count(0)


# -- running it --------------------------------------------------------------------------


@contextlib.contextmanager
def baseline_tree(commit: str, parent: Path) -> Iterator[Path]:
    """A detached git worktree of `commit`, removed afterwards."""
    tree = parent / "baseline-tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), commit],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield tree
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)],
            cwd=ROOT,
            check=False,
            capture_output=True,
        )


def play(day_class: type[Day], root: Path) -> Counts:
    """One day on a fresh instance of the tree at `root`.

    Runs in a thread of its own: Playwright's sync API refuses a thread whose asyncio
    loop is running (a caller already driving a browser, e.g. the test suite's)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_play, day_class, root).result()


def _play(day_class: type[Day], root: Path) -> Counts:
    work = Path(tempfile.mkdtemp(prefix="bk-day-"))  # short: gpg-agent's socket paths
    product: Product | None = None
    try:
        product = Product(work, root)
        counts = Counts(Clicks(), Commands())
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                day_class(product, browser, counts).play()
            finally:
                browser.close()
        return counts
    finally:
        if product is not None:
            product.stop()
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class Report:
    runs: dict[str, list[Counts]]

    def table(self) -> list[str]:
        """The first run of each side (the counts do not vary between runs), side by
        side, with the ratio new/baseline when both ran."""
        rows = {name: counted[0].row() for name, counted in self.runs.items() if counted}
        names = list(rows)
        both = names == ["baseline", "workbench"]
        lines = [f"{'':20}" + "".join(f" {n:>9}" for n in names) + (" ratio" if both else "")]
        for metric in next(iter(rows.values())):
            line = f"{metric:20}" + "".join(f" {rows[n][metric]:>9}" for n in names)
            if both:
                base, new = rows["baseline"][metric], rows["workbench"][metric]
                line += f" {new / base:5.2f}" if base else "     -"
            lines.append(line)
        return lines


DAYS: dict[str, type[Day]] = {"baseline": BaselineDay, "workbench": WorkbenchDay}


def measure(
    repeat: int,
    baseline_commit: str,
    say: Callable[[str], None] = print,
    sides: tuple[str, ...] = ("baseline", "workbench"),
) -> Report:
    """`repeat` runs of each side, alternating which goes first."""
    runs: dict[str, list[Counts]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory(prefix="bk-day-trees-") as parent:
        with contextlib.ExitStack() as stack:
            roots = {
                "baseline": (
                    stack.enter_context(baseline_tree(baseline_commit, Path(parent)))
                    if "baseline" in sides
                    else ROOT
                ),
                "workbench": ROOT,
            }
            for index in range(repeat):
                for name in sides if index % 2 == 0 else sides[::-1]:
                    started = time.monotonic()
                    counts = play(DAYS[name], roots[name])
                    runs[name].append(counts)
                    say(
                        f"run {index + 1} {name}: {counts.row()} "
                        f"({time.monotonic() - started:.0f} s, load {loadavg()})"
                    )
    for name, counted in runs.items():
        if any(c.row() != counted[0].row() for c in counted):
            say(f"WARNING: the {name} counts differ between runs")
    states = [c.state for counted in runs.values() for c in counted]
    if any(state != states[0] for state in states):
        raise AssertionError(f"the day ends differently: {states}")
    return Report(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-commit", default=DEFAULT_BASELINE)
    parser.add_argument("--steps", action="store_true", help="print every counted step")
    parser.add_argument(
        "--only", choices=list(DAYS), help="play one side only (no baseline worktree for the new)"
    )
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"baseline: {args.baseline_commit}; new: this tree; load before: {loadavg()}")
    sides = (args.only,) if args.only else tuple(DAYS)
    report = measure(args.repeat, args.baseline_commit, sides=sides)
    print()
    for line in report.table():
        print(line)
    if args.steps:
        for name, counted in report.runs.items():
            print(f"\n{name}:")
            print("\n".join(f"  {step}" for step in counted[0].clicks.steps))
            print("\n".join(f"  $ {line}" for line in counted[0].commands.lines))
    print(f"\nload after: {loadavg()}")


if __name__ == "__main__":
    main()
