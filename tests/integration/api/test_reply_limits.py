"""Client-encrypted replies cannot blow up the source's page: a real compression bomb
(bzip2 inside, encrypted by gpg to the source's reply key and the submission key, sent
through the API) decrypts to at most the reply limit, and the source reads a clear,
translated refusal instead of a huge page; oversized ciphertexts are refused at the API;
ordinary client-encrypted replies still show."""

from __future__ import annotations

import subprocess  # nosec B404
import tracemalloc
from pathlib import Path

import gnupg
import requests
from flask.testing import FlaskClient
from sqlalchemy import select

import source_app
from composition.runtime import Runtime
from tests.integration.api.conftest import Server
from tests.integration.source_app.helpers import SourceBrowser
from tests.support.journalist import Account
from vault.models import Source
from vault.services.replies import MAX_ENCRYPTED_REPLY_BYTES, MAX_REPLY_BYTES

BOMB_BYTES = 100 * 1024 * 1024  # what the bomb expands to: 500 times the reply limit
TOO_LARGE = "This reply is too large to show."
TOO_LARGE_FR = "Cette réponse est trop longue pour être affichée."


def _token(server: Server, account: Account) -> str:
    answer = requests.post(
        server.api("token"),
        json={
            "username": account.username,
            "passphrase": account.passphrase,
            "one_time_code": account.code(),
        },
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def _source(runtime: Runtime) -> tuple[SourceBrowser, str, str]:
    """A source who created a codename and sent a message (so has a reply key)."""
    client: FlaskClient = source_app.create_app(runtime.config, runtime).test_client()
    browser = SourceBrowser(client)
    browser.create()
    assert browser.submit("hello").status_code == 302
    with runtime.session() as db:
        source = db.scalars(select(Source)).one()
        return browser, source.uuid, source.reply_key_fingerprint


def _import_recipients(runtime: Runtime, client_gpg: gnupg.GPG, reply_fpr: str) -> list[str]:
    fingerprints: list[str] = []
    for fpr in (reply_fpr, runtime.submission_fingerprint):
        fingerprints += client_gpg.import_keys(runtime.keyring.export_public(fpr)).fingerprints
    return fingerprints


def _bomb(client_gpg: gnupg.GPG, recipients: list[str]) -> str:
    """BOMB_BYTES of zeros, bzip2-compressed by gpg itself, armoured: a few hundred bytes."""
    argv = ["gpg", "--homedir", str(client_gpg.gnupghome), "--batch", "--quiet"]
    argv += ["--trust-model", "always", "--compress-algo", "bzip2", "--compress-level", "9"]
    argv += ["--armor", "--encrypt"]
    for fpr in recipients:
        argv += ["--recipient", fpr]
    proc = subprocess.Popen(  # nosec B603
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdin is not None and proc.stdout is not None
    chunk = bytes(1024 * 1024)
    for _ in range(BOMB_BYTES // len(chunk)):
        proc.stdin.write(chunk)
    proc.stdin.close()
    armored = proc.stdout.read().decode("ascii")
    assert proc.wait(120) == 0
    return armored


def _reply(server: Server, token: str, source_uuid: str, armored: str) -> requests.Response:
    return requests.post(
        server.api(f"sources/{source_uuid}/replies"),
        json={"reply": armored},
        headers={"Authorization": f"Token {token}"},
        timeout=60,
    )


def test_a_compression_bomb_reply_is_refused_on_the_source_page(
    runtime: Runtime, server: Server, analyst: Account, client_gpg: gnupg.GPG, tmp_path: Path
) -> None:
    browser, source_uuid, reply_fpr = _source(runtime)
    recipients = _import_recipients(runtime, client_gpg, reply_fpr)
    token = _token(server, analyst)
    bomb = _bomb(client_gpg, recipients)
    assert len(bomb) < 4096  # tiny on the wire...
    assert _reply(server, token, source_uuid, bomb).status_code == 201
    normal = client_gpg.encrypt(
        "We read your message. Someone will call.", recipients, always_trust=True, armor=True
    )
    assert normal.ok
    assert _reply(server, token, source_uuid, str(normal)).status_code == 201

    # The first view loads templates and catalogues (megabytes, once): not measured.
    browser.client.get("/lookup")
    tracemalloc.start()
    try:
        page = browser.client.get("/lookup")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # ...and it stays small once opened: the refusal, and the ordinary reply beside it.
    assert TOO_LARGE in html
    assert "We read your message. Someone will call." in html
    assert len(page.data) < 64 * 1024
    # Decryption stopped at the limit: nothing near the bomb's size was ever held.
    assert peak < 16 * MAX_REPLY_BYTES, peak

    french = browser.client.get("/lookup", headers={"Accept-Language": "fr"})
    assert TOO_LARGE_FR in french.get_data(as_text=True)


def test_oversized_ciphertext_refused_at_the_api(
    runtime: Runtime, server: Server, analyst: Account
) -> None:
    _, source_uuid, _ = _source(runtime)
    token = _token(server, analyst)
    body = "-----BEGIN PGP MESSAGE-----\n\n" + "A" * MAX_ENCRYPTED_REPLY_BYTES
    answer = _reply(server, token, source_uuid, body)
    assert answer.status_code == 413
    assert answer.json() == {
        "error": "Request Entity Too Large",
        "message": "The reply is too large.",
    }
