"""A reviewer chooses the language of the interface; the choice is kept through login.

Tor Browser always asks for en-US, so Accept-Language alone would never give French to
an analyst in Conakry: the choice is a small POST form (CSRF token, no JavaScript) kept
in the server-side session. Accept-Language remains the fallback.
"""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.support.journalist import Account, csrf_token, login, post_form

FRENCH = '<html lang="fr" dir="ltr">'
ENGLISH = '<html lang="en" dir="ltr">'


def _choose(client: FlaskClient, code: str, *, page: str = "/login", action: str = "") -> str:
    """Press a language button on `page`, as a browser would: returns the redirect."""
    html = client.get(page).get_data(as_text=True)
    form = re.search(
        r'<form method="post" action="([^"]+)" class="inline lang".*?</form>', html, re.S
    )
    assert form, page
    assert f'name="language" value="{code}"' in form.group(0)
    here = re.search(r'name="next" value="([^"]*)"', form.group(0))
    assert here
    data = {"csrf_token": csrf_token(client, page), "language": code, "next": here.group(1)}
    response = client.post(action or form.group(1), data=data)
    assert response.status_code == 302, response.status_code
    return response.headers["Location"]


def test_english_by_default_french_from_accept_language(client: FlaskClient) -> None:
    assert ENGLISH in client.get("/login").get_data(as_text=True)
    html = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).get_data(
        as_text=True
    )
    assert FRENCH in html and "Se connecter" in html and "Phrase de passe" in html
    # A language without a catalogue: English, declared as such.
    html = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(
        as_text=True
    )
    assert ENGLISH in html and "Log in" in html


def test_choice_wins_over_accept_language_and_survives_login(
    client: FlaskClient, analyst: Account
) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US,en;q=0.5"  # what Tor Browser sends
    assert _choose(client, "fr") == "/login"
    html = client.get("/login").get_data(as_text=True)
    assert FRENCH in html
    assert "Nom d’utilisateur" in html and "Code de double authentification" in html
    assert '<strong lang="fr">Français</strong>' in html
    # A failed login answers in French, field errors included.
    html = client.post("/login", data={"csrf_token": csrf_token(client)}).get_data(as_text=True)
    assert "Échec de la connexion" in html and "Ce champ est obligatoire." in html

    assert login(client, analyst).status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert FRENCH in html
    assert "Tableau de bord" in html and "Se déconnecter" in html and "Aucune source" in html
    html = client.get("/no-such-page").get_data(as_text=True)
    assert FRENCH in html and "Cette page n’existe pas." in html

    # Back to English from any page, and back to that page.
    assert _choose(client, "en", page="/cases/?urgent=1") == "/cases/?urgent=1"
    html = client.get("/cases/").get_data(as_text=True)
    assert ENGLISH in html and "No cases to show." in html

    # Logging out forgets the choice with everything else.
    _choose(client, "fr", page="/")
    post_form(client, "/logout", page="/")
    assert ENGLISH in client.get("/login").get_data(as_text=True)


def test_choice_needs_the_csrf_token_and_an_offered_language(
    client: FlaskClient, analyst: Account
) -> None:
    assert client.post("/login", data={"language": "fr"}).status_code == 400
    assert ENGLISH in client.get("/login").get_data(as_text=True)
    token = csrf_token(client)
    response = client.post("/login", data={"csrf_token": token, "language": "de"})
    assert response.status_code == 302
    assert ENGLISH in client.get("/login").get_data(as_text=True)
    # Choosing is no login attempt: nothing counted, no error shown.
    html = client.get("/login").get_data(as_text=True)
    assert "Login failed" not in html

    assert login(client, analyst).status_code == 302
    assert client.post("/language", data={"language": "fr"}).status_code == 400
    assert ENGLISH in client.get("/").get_data(as_text=True)


def test_next_never_leaves_the_site(client: FlaskClient, analyst: Account) -> None:
    assert login(client, analyst).status_code == 302
    for forged in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/nowhere"):
        token = csrf_token(client, "/")
        response = client.post(
            "/language", data={"csrf_token": token, "language": "fr", "next": forged}
        )
        assert response.headers["Location"] == "/", forged
