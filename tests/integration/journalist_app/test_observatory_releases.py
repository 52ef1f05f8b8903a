"""Observatory releases on the server, end to end: a release made and signed with the
real workstation code and real gpg (the submission key), imported through the reviewer
interface and `backupctl observatory import`, refused when tampered, published to
partners, the early warning on the dashboard, and the public /figures page on and off.
SQLite and PostgreSQL, CSRF on."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from pathlib import Path

import flask_babel
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import source_app
from backupctl.cli import main
from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey, generate_submission_key
from tests.integration.journalist_app.test_journalist_i18n import _untranslated
from tests.support.i18n import Bracketing
from tests.support.journalist import Account, csrf_token, login
from tests.support.releases import rising_rows, signed_release, tampered
from tests.unit.workstation.test_observatory_release import SPEC, random_rows
from vault.models import AuditEvent, ObservatoryRelease
from vault.regions import first_level
from workstation.observatory.release_sign import sign_release, verify_release

Key = tuple[GeneratedKey, Path]


def _second_client(app: Flask, account: Account) -> FlaskClient:
    """Another browser than `admin_client`'s, logged in as `account`."""
    client = app.test_client()
    assert login(client, account).status_code == 302
    return client


@pytest.fixture
def partner_client_fresh(app: Flask, partner: Account) -> FlaskClient:
    return _second_client(app, partner)


@pytest.fixture
def analyst_client_fresh(app: Flask, analyst: Account) -> FlaskClient:
    return _second_client(app, analyst)


def _import(client: FlaskClient, data: bytes, signature: bytes) -> tuple[int, str]:
    token = csrf_token(client, "/observatory/")
    response = client.post(
        "/observatory/import",
        data={
            "csrf_token": token,
            "document": (io.BytesIO(data), "release.json"),
            "signature": (io.BytesIO(signature), "release.json.asc"),
        },
        content_type="multipart/form-data",
    )
    return response.status_code, response.get_data(as_text=True)


def _events(runtime: Runtime, action: str) -> list[AuditEvent]:
    with runtime.session() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _releases(runtime: Runtime) -> list[ObservatoryRelease]:
    with runtime.session() as db:
        return list(db.scalars(select(ObservatoryRelease)))


def test_admin_imports_a_signed_release_and_sees_its_tables_and_charts(
    admin_client: FlaskClient, runtime: Runtime, submission_key: Key
) -> None:
    document, data, signature = signed_release(submission_key, random_rows(300, seed=21), SPEC)
    assert document["suppression"]["primary"] > 0  # something to show as suppressed
    status, _ = _import(admin_client, data, signature)
    assert status == 302
    [kept] = _releases(runtime)
    assert kept.uuid == document["id"]
    assert kept.document == data and kept.signature == signature
    # Kept bytes verify again, anywhere, with the public key only.
    assert verify_release(kept.document, kept.signature, submission_key[0].public_armored)
    assert (kept.method_k, kept.dimensions, kept.countries) == (5, "period,region,act", "CD")
    assert (kept.first_month, kept.last_month, kept.period_unit) == ("2025-01", "2025-06", "month")
    assert kept.records == document["records"] and not kept.records_noisy
    assert kept.suppressed_primary == document["suppression"]["primary"]
    assert kept.suppressed_complementary == document["suppression"]["complementary"]
    assert kept.signer_fingerprint == submission_key[0].fingerprint.upper()
    assert kept.imported_by_id is not None and kept.published_at is None
    [event] = _events(runtime, "observatory_release_imported")
    assert event.object_uuid == document["id"]
    assert json.loads(event.detail or "{}") == {
        "release": document["id"],
        "signer": submission_key[0].fingerprint.upper(),
    }

    page = admin_client.get(f"/observatory/{document['id']}").get_data(as_text=True)
    assert page.count("<svg") == 3  # over time, by region, by act: inline, no script
    assert "<script" not in page
    # Suppressed cells are shown as such in the tables, never as numbers: the slice of
    # one act (a GET form, no script) holds some.
    assert 'name="act"' in page
    page = admin_client.get(f"/observatory/{document['id']}?act=rape").get_data(as_text=True)
    assert "principal act: Rape" in page  # categories in words
    cells = re.findall(r"<td>(.*?)</td>", page)
    hidden = [c for c in cells if "suppressed" in c]
    assert hidden and all(re.fullmatch(r"\d+", c) or "suppressed" in c for c in cells)
    assert "principal act" in page and "k)" in page  # the method is stated
    listing = admin_client.get("/observatory/").get_data(as_text=True)
    assert document["id"] in listing


def test_a_release_reads_in_words_in_the_viewers_language(
    admin_client: FlaskClient, submission_key: Key
) -> None:
    """Tables, slice form and charts name every category in words (French here), the
    code beside for places only; the signed document keeps its codes."""
    document, data, signature = signed_release(submission_key, random_rows(300, seed=21), SPEC)
    assert _import(admin_client, data, signature)[0] == 302
    french = {"Accept-Language": "fr"}
    page = admin_client.get(f"/observatory/{document['id']}?act=rape", headers=french).text
    assert '<html lang="fr"' in page
    margin = page[page.index('data-dimension="act"') :].split("</table>", 1)[0]
    assert '<th scope="row">Viol</th>' in margin
    assert '<th scope="row">Esclavage sexuel</th>' in margin
    region = page[page.index('data-dimension="region"') :].split("</table>", 1)[0]
    assert '<th scope="row">Sud-Kivu (CD-SK)</th>' in region
    period = page[page.index('data-dimension="period"') :].split("</table>", 1)[0]
    assert '<th scope="row">mars 2025</th>' in period
    assert '<option value="rape" selected>Viol</option>' in page
    assert "acte principal : Viol" in page or "acte principal: Viol" in page
    assert "Congo-Kinshasa (CD), janvier 2025 – juin 2025" in page
    # The charts follow the page's language.
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg"') == 3
    assert '<title id="t-region">Victimes par région</title>' in page
    assert 'lang="fr"' in page.split('<figure class="release-chart"', 1)[1]
    # No code is shown as a category: headers and options carry words.
    shown = re.findall(r'<th scope="row">([^<]*)</th>', page)
    shown += re.findall(r"<option [^>]*>([^<]*)</option>", page)
    shown += re.findall(r'text-anchor="end">([^<]*)</text>', page)
    assert shown and not [s for s in shown if re.fullmatch(r"[a-z_]+|CD-[A-Z]+|\d{4}-\d{2}", s)]
    english = admin_client.get(f"/observatory/{document['id']}").text
    assert '<th scope="row">Sexual slavery</th>' in english
    assert '<title id="t-region">Victims by region</title>' in english
    listing = admin_client.get("/observatory/", headers=french).text
    assert "Congo-Kinshasa (CD)" in listing and "janvier 2025 – juin 2025" in listing


def test_a_tampered_release_or_another_signer_is_refused(
    admin_client: FlaskClient, runtime: Runtime, submission_key: Key, tmp_path: Path
) -> None:
    document, data, signature = signed_release(submission_key)
    status, page = _import(admin_client, tampered(document), signature)
    assert status == 400
    assert "Refused: the signature or the release did not check out" in page
    assert "bad signature" in page
    # Good by its own key, not by this instance's submission key.
    home = tmp_path / "other"
    other = generate_submission_key(home, "another passphrase", name="Not the workstation")
    data_other, signature_other = sign_release(
        document, home, other.fingerprint, "another passphrase"
    )
    status, page = _import(admin_client, data_other, signature_other)
    assert status == 400 and "Refused" in page
    assert _releases(runtime) == []
    refused = _events(runtime, "observatory_release_refused")
    assert [json.loads(e.detail or "{}") for e in refused] == [{"refusal": "verification"}] * 2
    # The genuine one imports; a second import of it is refused.
    assert _import(admin_client, data, signature)[0] == 302
    status, page = _import(admin_client, data, signature)
    assert status == 400 and "already imported" in page
    assert len(_releases(runtime)) == 1


def test_only_admins_import_and_publish(
    analyst_client: FlaskClient, runtime: Runtime, submission_key: Key
) -> None:
    _, data, signature = signed_release(submission_key)
    page = analyst_client.get("/observatory/").get_data(as_text=True)
    assert 'action="/observatory/import"' not in page
    token = csrf_token(analyst_client, "/observatory/")
    response = analyst_client.post(
        "/observatory/import",
        data={
            "csrf_token": token,
            "document": (io.BytesIO(data), "r.json"),
            "signature": (io.BytesIO(signature), "r.json.asc"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    assert _releases(runtime) == []
    # Without a CSRF token, nothing happens either.
    response = analyst_client.post("/observatory/import", data={})
    assert response.status_code == 400


def test_partners_see_only_what_the_admin_publishes(
    admin_client: FlaskClient,
    partner_client_fresh: FlaskClient,
    runtime: Runtime,
    submission_key: Key,
) -> None:
    document, data, signature = signed_release(submission_key)
    assert _import(admin_client, data, signature)[0] == 302
    release_id = document["id"]
    partner = partner_client_fresh
    assert release_id not in partner.get("/observatory/").get_data(as_text=True)
    assert partner.get(f"/observatory/{release_id}").status_code == 404
    assert partner.get(f"/observatory/{release_id}/release.json").status_code == 404
    # A partner cannot publish.
    token = csrf_token(partner, "/observatory/")
    response = partner.post(
        f"/observatory/{release_id}/publish", data={"csrf_token": token, "published": "1"}
    )
    assert response.status_code == 403

    token = csrf_token(admin_client, f"/observatory/{release_id}")
    response = admin_client.post(
        f"/observatory/{release_id}/publish", data={"csrf_token": token, "published": "1"}
    )
    assert response.status_code == 302
    [event] = _events(runtime, "observatory_release_published")
    assert json.loads(event.detail or "{}") == {"field": "published", "from": False, "to": True}
    assert release_id in partner.get("/observatory/").get_data(as_text=True)
    page = partner.get(f"/observatory/{release_id}").get_data(as_text=True)
    assert page.count("<svg") == 3 and "/publish" not in page
    assert partner.get(f"/observatory/{release_id}/release.json").data == data
    # Publishing again changes nothing and records nothing.
    admin_client.post(
        f"/observatory/{release_id}/publish", data={"csrf_token": token, "published": "1"}
    )
    assert len(_events(runtime, "observatory_release_published")) == 1
    admin_client.post(
        f"/observatory/{release_id}/publish", data={"csrf_token": token, "published": "0"}
    )
    assert len(_events(runtime, "observatory_release_withdrawn")) == 1
    # The audit log reads these in words, the release named by its creation time.
    log = admin_client.get("/admin/audit/").get_data(as_text=True)
    for words in (
        "Statistics release imported",
        "Statistics release published to partners",
        "Statistics release withdrawn from partners",
        f"Statistics release: {document['created']}",
    ):
        assert words in log, words
    assert partner.get(f"/observatory/{release_id}").status_code == 404


def test_the_dashboard_flags_a_rising_region_with_its_method(
    admin_client: FlaskClient, analyst_client_fresh: FlaskClient, submission_key: Key
) -> None:
    page = analyst_client_fresh.get("/dashboard/").get_data(as_text=True)
    assert "No monthly release by region imported yet." in page
    document, data, signature = signed_release(submission_key, rising_rows())
    assert _import(admin_client, data, signature)[0] == 302
    page = analyst_client_fresh.get("/dashboard/").get_data(as_text=True)
    block = page[page.index('id="early-warning"') :]
    assert "at least 50% above the mean of its 3 previous months" in block
    assert "Suppressed counts are never used as numbers" in block
    flagged = re.findall(r'<li data-region="([A-Z-]+)">', block)
    assert flagged == ["CD-NK"]  # 15 in April against 5, 5, 5; Sud-Kivu stays at 6
    assert "<strong>Nord-Kivu (CD-NK)</strong>" in block  # the region's name, its code beside
    assert "15 victims in April 2025, 200% above the mean of 5.0" in block
    assert f"/observatory/{document['id']}" in block
    assert "26 regions assessed, 0 not assessed" in block


def test_backupctl_observatory_import(
    runtime: Runtime, submission_key: Key, tmp_path: Path
) -> None:
    document, data, signature = signed_release(submission_key)
    good = tmp_path / f"release-{document['id']}.json"
    good.write_bytes(data)
    good.with_name(good.name + ".asc").write_bytes(signature)
    bad = tmp_path / "bad" / good.name
    bad.parent.mkdir()
    bad.write_bytes(tampered(document))
    bad.with_name(bad.name + ".asc").write_bytes(signature)
    env = {
        "DATABASE_URL": runtime.config.database_url,
        "BACKUP_INSTANCE_DIR": str(runtime.config.instance_dir),
    }
    runner = CliRunner()
    result = runner.invoke(main, ["observatory", "import", str(bad)], env=env)
    assert result.exit_code == 1 and "REFUSED" in result.output
    assert "bad signature" in result.output
    result = runner.invoke(main, ["observatory", "import", str(good)], env=env)
    assert result.exit_code == 0, result.output
    assert document["id"] in result.output
    [kept] = _releases(runtime)
    assert kept.imported_by_id is None and kept.document == data
    [event] = _events(runtime, "observatory_release_imported")
    assert event.actor_id is None and event.object_uuid == document["id"]
    assert len(_events(runtime, "observatory_release_refused")) == 1


def test_public_figures_page_off_by_default_and_on_when_set(
    admin_client: FlaskClient, runtime: Runtime, submission_key: Key
) -> None:
    document, data, signature = signed_release(submission_key)
    assert _import(admin_client, data, signature)[0] == 302
    off = source_app.create_app(runtime.config, runtime).test_client()
    assert off.get("/figures").status_code == 404
    app_on = source_app.create_app(replace(runtime.config, public_figures=True), runtime)
    on = app_on.test_client()
    response = on.get("/figures")
    assert response.status_code == 200
    assert document["id"] not in response.text  # not published yet
    assert "Nothing published yet." in response.text
    token = csrf_token(admin_client, f"/observatory/{document['id']}")
    admin_client.post(
        f"/observatory/{document['id']}/publish", data={"csrf_token": token, "published": "1"}
    )
    response = on.get("/figures")
    page = response.text
    assert f'data-release="{document["id"]}"' in page
    assert "Victims: 54. Incidents counted: 54." in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert len(response.data) < 30_000
    french = on.get("/figures", headers={"Accept-Language": "fr"}).text
    assert "Chiffres publiés" in french
    # Categories in words, in the reader's language; no code on the public page.
    assert "Congo-Kinshasa · janvier 2025 – avril 2025" in french
    assert '<th scope="row">Viol</th>' in french
    assert '<th scope="row">Sud-Kivu</th>' in french
    assert '<th scope="row">mars 2025</th>' in french
    assert not re.search(r'<th scope="row">(CD-|rape|sexual_|2025-)', french)
    swahili = on.get("/figures", headers={"Accept-Language": "sw"}).text
    assert '<th scope="row">Ubakaji</th>' in swahili and "Machi 2025" in swahili


def test_every_word_of_a_release_page_is_translatable(
    admin_client: FlaskClient, submission_key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a pseudo-locale that brackets every translated string (the app's catalogue
    and the observatory's alike), nothing on a release page, charts included, is left
    outside brackets but data: numbers, dates, identifiers, place names (ISO 3166-2's
    own, CLDR's), month names (CLDR) and the signed document's own method statement."""
    document, data, signature = signed_release(submission_key, random_rows(300, seed=21), SPEC)
    assert _import(admin_client, data, signature)[0] == 302
    monkeypatch.setattr(flask_babel.Domain, "get_translations", lambda self: Bracketing())
    page = admin_client.get(f"/observatory/{document['id']}?act=rape").text
    assert "⟦Victims by region⟧" in page and "⟦Rape⟧" in page  # the observatory's words
    method = document["method"]
    months = [f"{m} 2025" for m in ("January", "February", "March", "April", "May", "June")]
    shown_data = [
        *first_level("CD").values(),
        *(f"({code})" for code in first_level("CD")),  # a region's code, for analysts
        *months,
        "Congo - Kinshasa",
        "(CD)",
        submission_key[0].fingerprint.upper(),
        document["id"],
        document["created"],
        document["created"][:10],
        method["measure"],
        method["consent"],
        method["act_rule"],
        method["primary_suppression"],
        method["complementary_suppression"],
        "BackUp",
        "English",  # the language form's autonyms
        "Français",
        "UTC",
        "Release imported: its signature is good.",  # flashed before the pseudo-locale
    ]
    leftover = _untranslated(page, shown_data)
    # What separates them: "row \\ column", "first – last", "label: value; …".
    leftover = re.sub(r"[\\:;–]", "", leftover)
    assert leftover == "", f"untranslated text on the release page: {leftover!r}"
