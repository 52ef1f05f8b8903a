"""BACKUP_TSA_*: which time-stamping authorities anchor the chains, and through what."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault.errors import ConfigError
from vault.tsa_config import TsaConfig, TsaEntry, load_tsa_config


def test_none_configured_by_default(tmp_path: Path) -> None:
    assert load_tsa_config({}, tmp_path) == TsaConfig()


def test_pairs_their_certificates_and_the_socks_port(tmp_path: Path) -> None:
    env = {
        "BACKUP_TSA_URLS": "qualified=http://tsa.example/tsr,\n second=https://b.example/",
        "BACKUP_TSA_SOCKS": "127.0.0.1:9050",
        "BACKUP_TSA_TIMEOUT": "30",
    }
    loaded = load_tsa_config(env, tmp_path)
    assert loaded.authorities == (
        TsaEntry("qualified", "http://tsa.example/tsr", tmp_path / "tsa" / "qualified.pem"),
        TsaEntry("second", "https://b.example/", tmp_path / "tsa" / "second.pem"),
    )
    assert loaded.socks == ("127.0.0.1", 9050) and loaded.timeout == 30.0
    unix = load_tsa_config({"BACKUP_TSA_SOCKS": "unix:/run/tor/socks"}, tmp_path)
    assert unix.socks == ("unix:/run/tor/socks", 0)


def test_certificates_present_are_read_as_they_are(tmp_path: Path) -> None:
    (tmp_path / "tsa").mkdir()
    (tmp_path / "tsa" / "a.pem").write_bytes(b"PEM of a")
    loaded = load_tsa_config({"BACKUP_TSA_URLS": "a=http://a/ b=http://b/"}, tmp_path)
    assert loaded.certificate_pems() == {"a": b"PEM of a"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BACKUP_TSA_URLS": "http://tsa.example/"}, r"is not name=http\(s\)"),
        ({"BACKUP_TSA_URLS": "Bad Name=http://a/"}, r"is not name=http\(s\)"),
        ({"BACKUP_TSA_URLS": "../x=http://a/"}, r"is not name=http\(s\)"),
        ({"BACKUP_TSA_URLS": "a=ftp://a/"}, r"is not name=http\(s\)"),
        ({"BACKUP_TSA_URLS": "a=http:///tsr"}, r"is not name=http\(s\)"),
        ({"BACKUP_TSA_URLS": "a=http://a:99999/"}, r"is not name=http\(s\)"),
        ({"BACKUP_TSA_URLS": "a=https://a:443x/"}, r"is not name=http\(s\)"),
        ({"BACKUP_TSA_URLS": "a=http://a/ a=http://b/"}, "a named twice"),
        ({"BACKUP_TSA_SOCKS": "9050"}, "host:port or unix:/path"),
        ({"BACKUP_TSA_SOCKS": "localhost:99999"}, "host:port or unix:/path"),
        ({"BACKUP_TSA_TIMEOUT": "0"}, "positive number of seconds"),
    ],
)
def test_mistakes_are_refused_by_name(env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        load_tsa_config(env, tmp_path)


def test_a_refused_entry_does_not_repeat_its_url(tmp_path: Path) -> None:
    # A TSA account's credentials can sit in the URL: the message names the entry only.
    with pytest.raises(ConfigError) as refused:
        load_tsa_config(
            {"BACKUP_TSA_URLS": "ok=http://a/ qual=https://user:s3cr3t@tsa.example:99999/"},
            tmp_path,
        )
    assert "s3cr3t" not in str(refused.value) and "tsa.example" not in str(refused.value)
    assert "'qual' (entry 2)" in str(refused.value)
