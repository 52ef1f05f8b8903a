"""A source reaches the source interface only through Tor: the landing page and a whole
submission (message + file) travel over the private Tor network, as from Tor Browser."""

from __future__ import annotations

import os
import re

from sqlalchemy import select

from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.integration.source_app.helpers import CODENAME_RE, csrf_token, gunzip, stored_files
from tests.support.leaks import assert_no_leak
from tests.tor.conftest import OnionServices, onion_get, tor_session
from tests.tor.network import Node
from vault.models import Source, Submission, SubmissionKind
from vault.services.source_consent import state_name

OPENPGP_PACKET = re.compile(rb"^[\x84\x85\xc1]")  # PKESK, old or new packet format


class TestSourceOverTor:
    """The source interface, served behind its v3 onion service."""

    def test_landing_page_loads_from_its_onion_address(
        self, served_apps: Runtime, onion_services: OnionServices, probe: Node
    ) -> None:
        host = onion_services.source_host
        session = tor_session(probe)
        response = onion_get(session, probe, f"http://{host}/")
        assert response.status_code == 200
        assert 'href="/generate"' in response.text
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")

    def test_a_whole_submission_arrives_sealed(
        self,
        served_apps: Runtime,
        onion_services: OnionServices,
        probe: Node,
        workstation_keyring: GpgKeyring,
    ) -> None:
        runtime = served_apps
        base = f"http://{onion_services.source_host}"
        session = tor_session(probe)
        page = onion_get(session, probe, f"{base}/generate")
        assert page.status_code == 200
        match = CODENAME_RE.search(page.text)
        assert match
        created = session.post(
            f"{base}/create", data={"csrf_token": csrf_token(page.text)}, allow_redirects=False
        )
        assert created.status_code == 302

        lookup = session.get(f"{base}/lookup", timeout=30)
        assert lookup.status_code == 200
        message = "Over Tor: they came at night. Nobody must know I wrote this."
        document = os.urandom(150_000)  # larger than one Tor cell stream window
        sent = session.post(
            f"{base}/submit",
            data={"csrf_token": csrf_token(lookup.text), "msg": message},
            files={"fh": ("evidence.bin", document, "application/octet-stream")},
            allow_redirects=False,
            timeout=60,
        )
        assert sent.status_code == 302, sent.text[:500]
        assert sent.headers["Location"] == "/lookup"

        with runtime.session() as db:
            source = db.scalars(select(Source)).one()
            rows = db.scalars(select(Submission).order_by(Submission.id)).all()
            kinds = [row.kind for row in rows]
            paths = [runtime.store.path_of(source.uuid, row.filename) for row in rows]
            # A first submission also leaves the source's own consent state beside it,
            # sealed to the source's key (vault.services.source_consent).
            state = runtime.store.path_of(source.uuid, state_name(rows[0].filename))
        assert kinds == [SubmissionKind.MESSAGE, SubmissionKind.FILE]
        assert stored_files(runtime) == sorted([*paths, state])
        sealed = [path.read_bytes() for path in paths]
        for ciphertext in sealed:
            assert OPENPGP_PACKET.match(ciphertext)
            assert document[:64] not in ciphertext
        assert_no_leak(
            message, files=[runtime.config.instance_dir], engine=runtime.engine, redis=runtime.redis
        )
        # The message is sealed as text, the file gzipped then sealed (as in the store).
        opened = [workstation_keyring.open_bytes(c, SUBMISSION_PASSPHRASE) for c in sealed]
        assert opened[0] == message.encode()
        assert gunzip(opened[1]) == document
