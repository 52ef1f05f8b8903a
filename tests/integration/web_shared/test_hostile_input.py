"""No input gets a 5xx: hypothesis generates hostile requests (paths built from every
route, query strings with unicode digits and huge numbers, headers and cookies with
latin-1 bytes, forms with and without the real CSRF token, multipart uploads, raw
bodies under any content type) against both apps, logged out and logged in (a source
with a codename, an admin with passphrase and TOTP), in process; and as raw bytes on the
wire to both apps served as production serves them (`backupctl serve`'s gunicorn and
settings), so the server's own parsing is covered too.

Marked `reliability`: the report (scripts/reliability.sh) runs it at full size and
records how many requests each test really sent (tests.support.fuzz.SENT) and how many
answered 5xx. `BACKUP_FUZZ_EXAMPLES` overrides the number of requests per target.
"""

from __future__ import annotations

import functools
import glob
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import requests
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import journalist_app
import source_app
from composition.runtime import Runtime
from tests.integration.source_app.helpers import SourceBrowser
from tests.support.fuzz import (
    SENT,
    SPECIAL,
    SWEEP_CORE,
    HostileRequest,
    examples,
    hostile_requests,
    raw_http,
    rule_templates,
    send_in_process,
    send_raw,
    sweep,
)
from tests.support.journalist import (
    FAST_HASHER,
    Account,
    csrf_token,
    login,
    make_account,
    make_source,
)
from tests.support.reliability import record, size
from tests.support.served import gunicorn
from vault.models import Role

pytestmark = pytest.mark.reliability
REPO = Path(__file__).resolve().parents[3]
# Per target. Full size: 8 in-process targets (4 tests, 2 databases) and 2 served ones,
# with the API's (test_api_openapi) over 10,000 requests in all, in a few minutes.
IN_PROCESS_EXAMPLES = examples(size(ci=50, full=800))
SERVED_EXAMPLES = examples(size(ci=50, full=1000))
FULL_SWEEP_FROM = 2000  # every special value: a longer run by hand (BACKUP_FUZZ_EXAMPLES)
# Requests that end the very session a logged-in target is exploring.
_SESSION_ENDERS = frozenset({"main.logout", "main.quick_exit", "auth.logout", "api.logout"})
_WTFORMS_FIELDS = [
    "username", "passphrase", "code", "text", "message", "role", "name", "case", "consent",
    "contact", "due", "languages", "regions", "services", "submission", "target",
]  # fmt: skip
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
T = TypeVar("T")


def _form_fields(package: str) -> list[str]:
    names: set[str] = set(_WTFORMS_FIELDS)
    for template in glob.glob(str(REPO / package / "templates" / "**" / "*.html"), recursive=True):
        names |= set(re.findall(r'name="([A-Za-z0-9_\-]+)"', Path(template).read_text()))
    return sorted(names)


def _fuzz(
    send: Callable[[T], int | None], strategy: st.SearchStrategy[T], count: int
) -> list[int | None]:
    seen: list[int | None] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=strategy)
    def run(request: T) -> None:
        status = send(request)
        seen.append(status)
        what = request.describe() if isinstance(request, HostileRequest) else repr(request)
        assert status is None or status < 500, (status, what[:2000])

    run()
    return seen


def _sweep(app: Flask, templates: list[str], ids: dict[str, str], cookie: str | None) -> None:
    failures = []
    # A long run (a reliability script) sends every special value; CI the core ones.
    values = SPECIAL if IN_PROCESS_EXAMPLES >= FULL_SWEEP_FROM else SWEEP_CORE
    for request in sweep(templates, ids, values):
        status = send_in_process(app, request, cookie)
        if status >= 500:
            failures.append((status, request.describe()))
    assert failures == []


def _record(what: str, runtime: Runtime, before: Counter[int | None]) -> None:
    """What this test sent (the senders' count since `before`), for the report."""
    sent = SENT - before
    record(
        f"{what} ({runtime.engine.dialect.name})",
        {
            "requests sent": sum(sent.values()),
            "answers 5xx": sum(n for code, n in sent.items() if code is not None and code >= 500),
            "closed without an answer": sent[None],
            "answers by status": {str(k): v for k, v in sorted(sent.items(), key=str)},
        },
        group="hostile",
    )


def _cookie(app: Flask, client: object) -> str | None:
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)  # type: ignore[attr-defined]
    return f"{name}={cookie.value}" if cookie is not None else None


def _ids(runtime: Runtime) -> dict[str, str]:
    made = make_source(runtime)
    other = make_account(runtime, "fuzzed1", Role.ANALYST)
    return {
        "source_uuid": made.uuid,
        "submission_uuid": made.document_uuid,
        "reviewer_uuid": other.uuid,
        "filename": made.document_filename,
        "code": "fr",
    }


@pytest.mark.parametrize("logged_in", [False, True], ids=["anonymous", "source"])
def test_source_app_answers_no_5xx(runtime: Runtime, logged_in: bool) -> None:
    before = SENT.copy()
    app = source_app.create_app(runtime.config, runtime)
    client = app.test_client()
    if logged_in:
        browser = SourceBrowser(client)
        browser.create()
        token = browser.token("/lookup")
    else:
        token = SourceBrowser(client).token("/login")
    cookie = _cookie(app, client)
    skip = _SESSION_ENDERS if logged_in else frozenset()
    ids = _ids(runtime)
    strategy = hostile_requests(
        rule_templates(app, skip_endpoints=skip), ids, _form_fields("source_app"), token
    )
    seen = _fuzz(lambda r: send_in_process(app, r, cookie), strategy, IN_PROCESS_EXAMPLES)
    assert len(seen) >= min(IN_PROCESS_EXAMPLES, 20)
    if logged_in:  # every page an anonymous source sees, a logged-in one sees too
        _sweep(app, rule_templates(app, skip_endpoints=skip), ids, cookie)
    who = "a logged-in source" if logged_in else "logged out"
    _record(f"Source app in process, {who}", runtime, before)


@pytest.mark.parametrize("logged_in", [False, True], ids=["anonymous", "admin"])
def test_reviewer_app_answers_no_5xx(runtime: Runtime, logged_in: bool) -> None:
    before = SENT.copy()
    app = journalist_app.create_app(runtime.config, runtime, hasher=FAST_HASHER)
    client = app.test_client()
    ids = _ids(runtime)
    if logged_in:
        admin: Account = make_account(runtime, "fuzzadmin", Role.ADMIN)
        assert login(client, admin).status_code == 302
        token = csrf_token(client, "/")
    else:
        token = csrf_token(client, "/login")
    cookie = _cookie(app, client)
    skip = _SESSION_ENDERS if logged_in else frozenset()
    strategy = hostile_requests(
        rule_templates(app, skip_endpoints=skip), ids, _form_fields("journalist_app"), token
    )
    seen = _fuzz(lambda r: send_in_process(app, r, cookie), strategy, IN_PROCESS_EXAMPLES)
    assert len(seen) >= min(IN_PROCESS_EXAMPLES, 20)
    if logged_in:  # the admin was exploring logged in all along
        _sweep(app, rule_templates(app, skip_endpoints=skip), ids, cookie)
        assert client.get("/").status_code == 200
    who = "an admin logged in" if logged_in else "logged out"
    _record(f"Reviewer app in process, {who}", runtime, before)


def _send_raw(port: int, data: bytes) -> int | None:
    return send_raw(port, data)


def _http_login_source(base: str) -> tuple[str, str]:
    """A codename created over HTTP: the session cookie and its CSRF token."""
    with requests.Session() as http:
        page = http.get(f"{base}/generate", timeout=30)
        token = _CSRF.search(page.text)
        assert token, page.status_code
        made = http.post(f"{base}/create", data={"csrf_token": token.group(1)}, timeout=60)
        assert made.status_code == 200 and made.url.endswith("/lookup"), made.status_code
        lookup = _CSRF.search(made.text)
        assert lookup
        return f"src={http.cookies['src']}", lookup.group(1)


def _http_login_reviewer(base: str, account: Account) -> tuple[str, str]:
    with requests.Session() as http:
        token = _CSRF.search(http.get(f"{base}/login", timeout=30).text)
        assert token
        answer = http.post(
            f"{base}/login",
            data={
                "csrf_token": token.group(1),
                "username": account.username,
                "passphrase": account.passphrase,
                "code": account.code(),
            },
            timeout=60,
        )
        # An analyst lands on the dashboard after logging in.
        assert answer.status_code == 200 and answer.url == f"{base}/dashboard/", answer.url
        inbox = _CSRF.search(answer.text)
        assert inbox
        return f"journalist={http.cookies['journalist']}", inbox.group(1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_both_apps_served_by_gunicorn_answer_no_5xx(runtime: Runtime, tmp_path: Path) -> None:
    """Raw bytes on the wire: gunicorn's parsing, then the app's, never a 5xx."""
    before = SENT.copy()
    ids = _ids(runtime)
    admin = make_account(runtime, "fuzzadmin", Role.ADMIN)
    source_templates = rule_templates(
        source_app.create_app(runtime.config, runtime), skip_endpoints=_SESSION_ENDERS
    )
    reviewer_templates = rule_templates(
        journalist_app.create_app(runtime.config, runtime, hasher=FAST_HASHER),
        skip_endpoints=_SESSION_ENDERS,
    )
    with (
        gunicorn(runtime, "source", tmp_path / "source.log") as source_base,
        gunicorn(runtime, "journalist", tmp_path / "journalist.log") as reviewer_base,
    ):
        targets = [
            (source_base, _http_login_source(source_base), source_templates, "source_app"),
            (
                reviewer_base,
                _http_login_reviewer(reviewer_base, admin),
                reviewer_templates,
                "journalist_app",
            ),
        ]
        for base, (cookie, token), templates, package in targets:
            port = int(base.rsplit(":", 1)[1])
            strategy = raw_http(
                hostile_requests(templates, ids, _form_fields(package), token), cookie
            )
            seen = _fuzz(functools.partial(_send_raw, port), strategy, SERVED_EXAMPLES)
            # Most requests got an answer (a few malformed ones may be dropped unanswered).
            assert sum(s is not None for s in seen) >= len(seen) // 2
    for log in ("source.log", "journalist.log"):
        text = (tmp_path / log).read_text(errors="replace")
        assert "unhandled" not in text and "Traceback" not in text, text[-3000:]
    _record("Both apps served by gunicorn, raw bytes on the wire", runtime, before)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_known_crashes_answer_clearly(runtime: Runtime) -> None:
    """The inputs that once answered 500: a page number in unicode digits, a non-ASCII
    API token, a path uuid with a trailing newline, a multipart part without a name."""
    app = journalist_app.create_app(runtime.config, runtime, hasher=FAST_HASHER)
    client = app.test_client()
    admin = make_account(runtime, "fuzzadmin", Role.ADMIN)
    assert login(client, admin).status_code == 302
    for path in ("/?page=²", "/?page=٣", "/admin/audit/?page=²", "/admin/retention/?days=²"):
        assert client.get(path).status_code == 200, path
    uuid_newline = "/admin/reviewers/00000000-0000-0000-0000-000000000000%0A"
    assert client.get(uuid_newline).status_code == 404
    nameless = b"--b\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--b--\r\n"
    for app_client in (client, source_app.create_app(runtime.config, runtime).test_client()):
        answer = app_client.post(
            "/login", data=nameless, content_type="multipart/form-data; boundary=b"
        )
        assert answer.status_code == 400
    for token in ("Token \xe9.\xe9", "Token \xc3\xa9abc.def"):
        answer = client.get("/api/v1/user", headers={"Authorization": token})
        assert answer.status_code == 403
        assert answer.json == {"error": "Forbidden", "message": "Token authentication failed."}
