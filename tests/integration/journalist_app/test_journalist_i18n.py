"""Every string a reviewer reads goes through gettext; the catalogues are current and
complete; the language a reviewer chooses is used, and kept through login.

WWoW's analysts in Guinea-Conakry and Rwanda/Burundi work in French: an English string
left out of the catalogue is a sentence some of them read less surely, on pages where
a misreading (a deletion, a referral, a consent) costs a survivor. The first test
renders every page an analyst, an admin and a partner reach, with a pseudo-translation
that brackets each translated string, and fails on any visible text left outside
brackets (data apart: designations, file names, usernames, references, dates).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import flask_babel
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

import journalist_app
from composition.runtime import Runtime
from journalist_app import guide_text
from tests.support.consent import record_consent
from tests.support.i18n import Bracketing, VisibleText
from tests.support.journalist import (
    Account,
    csrf_token,
    login,
    make_account,
    make_source,
    post_form,
)
from vault import reports
from vault.models import AuditEvent, Case, Referral, Reply, Reviewer, Role, Source
from vault.services import care, consents, inbox_query, partners, sources

ROOT = Path(journalist_app.__file__).parent
TRANSLATIONS = ROOT / "translations"
LOCALES = sorted(p.name for p in TRANSLATIONS.iterdir() if (p / "LC_MESSAGES").is_dir())
# lazy_gettext is imported as _l in the app (see journalist_app/babel.cfg).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w*\}")
# What may stay outside brackets: spaces, digits and separators drawn between data.
_SEPARATORS = re.compile(r"[\s\d·\-★→,()]+")
_DATES = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?")
_UUIDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NOTE = "NOTE-TEXT-d41c"
REPLY = "REPLY-TEXT-92be"
MESSAGE = "REFERRAL-MESSAGE-7f3a"
CARE_CONTACT = "CARE-CONTACT-5e1b"


def _untranslated(html: str, data: list[str]) -> str:
    parser = VisibleText()
    parser.feed(html)
    text = "\n".join(parser.parts)
    # Innermost first: a translated label inside a translated sentence is ⟦…⟦…⟧…⟧.
    while (inner := re.sub(r"⟦[^⟦⟧]*⟧", " ", text)) != text:
        text = inner
    for value in sorted({v for v in data if v}, key=len, reverse=True):
        text = text.replace(value, " ")
    text = _UUIDS.sub(" ", _DATES.sub(" ", text))
    return _SEPARATORS.sub("", text)


@pytest.fixture
def pseudo_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flask_babel.Domain, "get_translations", lambda self: Bracketing())


def _client(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    assert login(client, account).status_code == 302
    return client


class _World:
    """Two sources, a case with everything a case page shows, a partner organisation
    with a member, a referral with a sealed message: every page has something to show."""

    def __init__(self, app: Flask, runtime: Runtime) -> None:
        self.admin_account = make_account(runtime, "admin1", Role.ADMIN)
        self.partner_account = make_account(runtime, "partner1", Role.PARTNER)
        with runtime.session() as db:
            admin = db.scalars(
                select(Reviewer).where(Reviewer.uuid == self.admin_account.uuid)
            ).one()
            org = partners.create_org(
                db, admin, "Clinic A", [partners.PartnerService.MEDICAL], "Kigali", "rw"
            )
            partners.add_member(db, admin, org.uuid, self.partner_account.uuid)
            self.org_uuid = org.uuid
        # Everyone logs in before anything is sealed, so that each holds a key.
        self.partner = _client(app, self.partner_account)
        self.admin = _client(app, self.admin_account)
        analyst = make_account(runtime, "analyst1")
        self.analyst = _client(app, analyst)
        self.source = make_source(runtime)
        self.other = make_source(runtime)
        src = f"/sources/{self.source.uuid}"
        post_form(self.analyst, f"{src}/reply", {"message": REPLY}, page=src)
        post_form(self.analyst, "/cases/new", {"source": self.source.uuid}, page=src)
        with runtime.session() as db:
            self.case = db.scalars(select(Case)).one()
        case = f"/cases/{self.case.uuid}"
        for path, form in (
            ("/labels", {"label": "kivu"}),
            ("/due", {"due": "2030-01-02"}),
            ("/assign", {"reviewer": self.admin_account.uuid}),
            ("/status", {"status": "triage"}),
            ("/notes", {"text": NOTE}),
        ):
            post_form(self.analyst, case + path, form, page=case)
        # A recorded consent, then a newer consent document waiting to be recorded.
        record_consent(
            runtime,
            analyst.uuid,
            self.case.uuid,
            self.source.uuid,
            "refer_partner",
            "contact_partner",
        )
        with runtime.session() as db:
            source = db.scalars(select(Source).where(Source.uuid == self.source.uuid)).one()
            [newer] = sources.submit(
                db, runtime.store, source, runtime.submission_fingerprint, "{}", []
            )
            consents.note_document(db, newer)
            self.newer_filename = newer.filename
        refer = f"{case}/referrals"
        data = {"org": self.org_uuid, "source": self.source.uuid}
        post_form(self.analyst, refer, data, page=refer)
        with runtime.session() as db:
            self.referral_uuid = db.scalars(select(Referral)).one().uuid
        referral = f"/referrals/{self.referral_uuid}"
        post_form(self.analyst, f"{referral}/messages", {"text": MESSAGE}, page=referral)
        post_form(self.partner, f"{referral}/status", {"status": "accepted"}, page=referral)
        with runtime.session() as db:  # a care request, sealed to the team's keys
            source_row = db.scalars(select(Source).where(Source.uuid == self.source.uuid)).one()
            document = reports.assist_from_form(
                {"needs": ["medical"], "urgency": ["today"], "contact": ["other"]}
                | {"contact_details": [CARE_CONTACT], "consent_refer_partner": ["yes"]}
            )
            made = care.seal_care_request(
                db, runtime.keyring, source_row, document, "rw", runtime.submission_fingerprint
            )
            assert made is not None
            self.care_uuid = made.uuid
        with runtime.session() as db:  # old enough for the retention preview
            db.execute(
                update(Source)
                .where(Source.uuid == self.other.uuid)
                .values(last_updated=dt.datetime.now(dt.UTC) - dt.timedelta(days=400))
            )
            db.commit()

    def data(self, runtime: Runtime) -> list[str]:
        """What pages show that is not ours to translate."""
        with runtime.session() as db:
            events = db.scalars(select(AuditEvent)).all()
            names = [r.username for r in db.scalars(select(Reviewer)).all()]
            replies = [r.filename for r in db.scalars(select(Reply)).all()]
        return [
            "BackUp",  # the product's name
            "BU",  # the placeholder of a case reference (BU-2026-0001)
            "ABCD-EFGH",  # the placeholder of a consent check code
            self.newer_filename,
            "English",
            "Français",
            *names,
            *replies,
            REPLY,  # a reply's text, opened from its team copy
            *(e.action for e in events),  # audit action codes: what the filter searches
            *(e.object_type or "" for e in events),
            *(e.object_uuid or "" for e in events),  # identifiers, shown as <code>
            self.case.reference,
            "kivu",
            "Clinic A",
            "Kigali",
            "rw",
            NOTE,
            MESSAGE,
            CARE_CONTACT,
            # The guide's title and section headings (its title and contents list).
            guide_text.load("en").title,
            *(heading for _anchor, heading in guide_text.load("en").contents),
            *(
                getattr(s, field)
                for s in (self.source, self.other)
                for field in ("designation", "message_filename", "document_filename")
            ),
        ]


@pytest.fixture
def world(app: Flask, runtime: Runtime) -> _World:
    return _World(app, runtime)


def _pages(world: _World, app: Flask, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    src, case = f"/sources/{world.source.uuid}", f"/cases/{world.case.uuid}"
    sub = f"{src}/submissions/{world.source.document_uuid}"
    referral = f"/referrals/{world.referral_uuid}"
    monkeypatch.setattr(inbox_query.list_page, "__defaults__", (1,))  # two pages of sources
    # The admin answers legal questions too: its menu and the advisers' pages.
    account = f"/admin/reviewers/{world.admin_account.uuid}"
    post_form(world.admin, f"{account}/legal-adviser", {"adviser": "1"}, page=account)
    responses = {}
    anonymous = app.test_client()
    responses["login"] = anonymous.get("/login")
    responses["login failed"] = anonymous.post("/login", data={"csrf_token": csrf_token(anonymous)})
    for role, client, paths in (
        (
            "analyst",
            world.analyst,
            [
                "/",
                "/?page=2&unread=1",
                src,
                f"{sub}/delete",
                f"{src}/delete",
                "/dashboard/",
                "/cases/",
                "/cases/?status=closed",
                case,
                f"{case}/notes",
                f"{case}/referrals",
                "/partners/",
                "/professionals/",
                referral,
                "/admin/",  # refused: the error page
                "/no-such-page",
                "/observatory/",
            ],
        ),
        (
            "admin",
            world.admin,
            [
                "/admin/",
                "/admin/reviewers/new",
                f"/admin/reviewers/{world.partner_account.uuid}",
                "/admin/audit/",
                "/admin/retention/?days=0",
                "/admin/retention/?days=365",
                "/partners/",
                "/dashboard/",
                "/care/",
                f"/care/{world.care_uuid}",
                "/observatory/",  # with the import form
                "/guidance/questions",
                f"{referral}/guidance",
                "/guide/",
            ],
        ),
        (
            "partner",
            world.partner,
            ["/", "/referrals/", referral, "/professionals/", "/observatory/", "/guide/"],
        ),
    ):
        for path in paths:
            responses[f"{role} {path}"] = client.get(path)
    # Flashed messages, validation errors, credentials shown once.
    responses["reply flash"] = world.analyst.get(
        post_form(world.analyst, f"{src}/reply", {"message": ""}, page=src).headers["Location"]
    )
    responses["invalid change flash"] = world.analyst.get(
        post_form(world.analyst, f"{case}/due", {"due": "not a date"}, page=case).headers[
            "Location"
        ]
    )
    new = "/admin/reviewers/new"
    responses["new reviewer errors"] = post_form(
        world.admin, new, {"username": "x", "role": "analyst"}, page=new
    )
    responses["credentials"] = post_form(
        world.admin, new, {"username": "analyst2", "role": "analyst"}, page=new
    )
    return responses


@pytest.mark.usefixtures("pseudo_locale")
def test_every_visible_string_is_translatable(
    world: _World, app: Flask, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    responses = _pages(world, app, monkeypatch)
    data = world.data(runtime)
    assert responses["analyst /admin/"].status_code == 403
    assert responses["analyst /no-such-page"].status_code == 404
    assert responses["admin /admin/retention/?days=0"].status_code == 302  # period too short
    retention = world.admin.get("/admin/retention/?days=0", follow_redirects=True)
    responses["retention flash"] = retention
    assert len(responses) > 30
    for name, response in responses.items():
        # Redirect bodies are Werkzeug's and never shown: the browser follows them.
        if 300 <= response.status_code < 400:
            continue
        html = response.get_data(as_text=True)
        # The guide's own text is translated as a whole document (journalist_app/guide/),
        # not through the catalogue: only the page around it is checked here.
        html = re.sub(r'<article class="guide".*?</article>', "", html, flags=re.DOTALL)
        assert response.mimetype == "text/html", name
        assert "⟦" in html, name
        passphrase = re.search(r'<p class="secret passphrase">([^<]+)</p>', html)
        secret = re.search(r'<p class="secret totp-secret">([^<]+)</p>', html)
        shown_once = [m.group(1) for m in (passphrase, secret) if m]
        leftover = _untranslated(html, [*data, *shown_once])
        assert leftover == "", f"{name}: untranslated text {leftover!r}"
    # The pages really showed what they are about (not an empty shell).
    assert NOTE in responses[f"analyst /cases/{world.case.uuid}/notes"].get_data(as_text=True)
    assert REPLY in responses[f"analyst /sources/{world.source.uuid}"].get_data(as_text=True)
    assert 'class="pages"' in responses["analyst /"].get_data(as_text=True)
    assert "candidate" in responses["admin /admin/retention/?days=365"].get_data(as_text=True)
    assert CARE_CONTACT in responses["admin /care/"].get_data(as_text=True)
    assert "secret passphrase" in responses["credentials"].get_data(as_text=True)
    assert 'class="error"' in responses["new reviewer errors"].get_data(as_text=True)


def _ids(messages: Any) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in messages if m.id}


def test_catalog_template_is_current() -> None:
    """messages.pot holds exactly what the code and templates ask to translate."""
    with open(ROOT / "babel.cfg") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    extracted = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map, keywords=KEYWORDS
        )
    }
    with open(TRANSLATIONS / "messages.pot", "rb") as handle:
        catalog = read_po(handle)
    assert extracted == _ids(catalog)
    assert len(extracted) > 200
    # The API answers machines, in English: no gettext there (see docs/translations.md).
    api = extract_from_dir(ROOT / "api", method_map, options_map, keywords=KEYWORDS)
    assert list(api) == []


def test_french_is_offered() -> None:
    assert "fr" in LOCALES


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_is_complete(locale: str) -> None:
    """Every msgid translated, none fuzzy, the same placeholders on both sides."""
    with open(TRANSLATIONS / "messages.pot", "rb") as handle:
        template = _ids(read_po(handle))
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle, locale=locale)
    entries = [m for m in catalog if m.id]
    assert _ids(entries) == template, f"{locale}: run pybabel update"
    for message in entries:
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        assert all(forms), f"{locale}: untranslated {ids[0]!r}"
        assert not message.fuzzy, f"{locale}: fuzzy (ignored when compiled): {ids[0]!r}"
        if len(ids) == 1:
            assert sorted(PLACEHOLDER.findall(forms[0])) == sorted(PLACEHOLDER.findall(ids[0])), (
                f"{locale}: placeholders differ in {ids[0]!r}"
            )
            continue
        assert len(forms) == catalog.num_plurals, f"{locale}: plural forms of {ids[0]!r}"
        allowed = set(PLACEHOLDER.findall(ids[0])) | set(PLACEHOLDER.findall(ids[1]))
        for form in forms:
            assert set(PLACEHOLDER.findall(form)) <= allowed, (locale, ids[0], form)
        # The plural form (many) says what the English plural says.
        assert sorted(PLACEHOLDER.findall(forms[-1])) == sorted(PLACEHOLDER.findall(ids[1]))


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalogue_is_current(locale: str) -> None:
    """The committed .mo says exactly what the .po says (`pybabel compile` was run)."""
    folder = TRANSLATIONS / locale / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as handle:
        source = {_key(m.id): _key(m.string) for m in read_po(handle) if m.id}
    with open(folder / "messages.mo", "rb") as handle:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(handle) if m.id}
    assert compiled == source


def _key(value: Any) -> Any:
    """One form for what .po (tuples) and .mo (lists) give for plural entries."""
    return value if isinstance(value, str) else tuple(value)
