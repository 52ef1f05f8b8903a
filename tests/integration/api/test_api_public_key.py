"""The source interface serves the instance's submission public key at /public-key, as
SecureDrop does: what reviewer clients encrypt replies to, besides the source's key."""

from __future__ import annotations

from pathlib import Path

import gnupg
import pytest
from flask.testing import FlaskClient

import source_app
from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey


@pytest.fixture
def source_client(runtime: Runtime) -> FlaskClient:
    app = source_app.create_app(runtime.config, runtime)
    app.testing = True
    return app.test_client()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_public_key_is_the_submission_public_key_only(
    runtime: Runtime,
    source_client: FlaskClient,
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
) -> None:
    response = source_client.get("/public-key")
    assert response.status_code == 200
    assert response.mimetype == "application/pgp-keys"
    assert "attachment" in response.headers["Content-Disposition"]
    armored = response.get_data(as_text=True)
    assert armored.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert "PRIVATE KEY" not in armored
    home = tmp_path / "check"
    home.mkdir(mode=0o700)
    imported = gnupg.GPG(gnupghome=str(home)).import_keys(armored)
    assert [fp for fp in imported.fingerprints if fp] == [submission_key[0].fingerprint]
    assert imported.sec_imported == 0
    # Security headers apply here too, and no session cookie is set.
    assert response.headers["Cache-Control"].startswith("no-store")
    assert "Set-Cookie" not in response.headers
