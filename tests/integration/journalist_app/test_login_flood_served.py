"""A concurrent flood of wrong reviewer logins against the reviewer app served as
production serves it (`backupctl serve`'s gunicorn: gthread, several workers and
threads): no answer is a 5xx, every refused login that reached the database is audited,
and the audit chain verifies."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import requests
from sqlalchemy import func, select

from composition.runtime import Runtime
from tests.support.served import gunicorn
from vault import audit_chain
from vault.models import AuditEvent

CLIENTS = 8
ATTEMPTS_PER_CLIENT = 25  # 200 in all, bounded; all from 127.0.0.1: one budget
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_wrong_login_flood_answers_no_5xx_and_audits_every_refusal(
    runtime: Runtime, tmp_path: Path
) -> None:
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(index: int, base: str) -> None:
        with requests.Session() as http:
            page = http.get(f"{base}/login", timeout=30)
            match = _CSRF.search(page.text)
            assert match, page.status_code
            start.wait()
            for n in range(ATTEMPTS_PER_CLIENT):
                answer = http.post(
                    f"{base}/login",
                    data={
                        "csrf_token": match.group(1),
                        "username": f"nobody{index}x{n}",
                        "passphrase": "not the passphrase",
                        "code": "123456",
                    },
                    timeout=60,
                )
                with lock:
                    statuses.append(answer.status_code)

    with gunicorn(runtime, "journalist", tmp_path / "gunicorn.log") as base:
        threads = [threading.Thread(target=client, args=(i, base)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    log = (tmp_path / "gunicorn.log").read_text(errors="replace")
    assert len(statuses) == CLIENTS * ATTEMPTS_PER_CLIENT, log
    assert [s for s in statuses if s >= 500] == [], log
    assert set(statuses) <= {401, 429}
    refused = statuses.count(401)
    assert refused > CLIENTS  # many reached the database at once, not only a few
    with runtime.session() as db:
        audited = db.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "login_failed")
        )
        report = audit_chain.verify(db)
    # Every refusal that reached the database left its event (throttled ones cost nothing).
    assert audited == refused
    assert report.ok, report
    assert "unhandled" not in log
