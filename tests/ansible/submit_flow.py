"""A source and a reviewer on a deployed server, through its apps only.

Run by test_booted.py inside the booted target's network namespace (the apps listen on
its loopback only). Prints JSON.

    python submit_flow.py submit BASE_URL ONION_HOST MESSAGE
        a source's whole first visit: codename, then one message.
    python submit_flow.py resume BASE_URL ONION_HOST CODENAME MESSAGE
        the source comes back (on another backend of a cluster): logs in, sends again.
    python submit_flow.py reply SOURCE_URL SOURCE_HOST REVIEWER_URL REVIEWER_HOST \
            CODENAME SOURCE_UUID USERNAME PASSPHRASE TOTP_SECRET REPLY
        a reviewer logs in (passphrase and TOTP), replies to the source; the source logs in
        with its codename and reads the reply; the reviewer then deletes the source.
"""

from __future__ import annotations

import html
import json
import re
import sys

import pyotp
import requests

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODENAME = re.compile(r'<p class="codename">([^<]+)</p>')


class Client:
    """One browser: its own cookies, one Host header (the onion address)."""

    def __init__(self, base: str, host: str, steps: list[str]) -> None:
        self.base = base
        self.host = host
        self.steps = steps
        # The production cookie is Secure (__Host-): Tor Browser sends it to an .onion
        # over http, requests would not; the cookies are carried by hand instead.
        self.cookies: dict[str, str] = {}

    def call(self, method: str, path: str, **kwargs: object) -> requests.Response:
        jar = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = requests.request(
            method,
            f"{self.base}{path}",
            headers={"Host": self.host, **({"Cookie": jar} if jar else {})},
            allow_redirects=False,
            timeout=60,
            **kwargs,  # type: ignore[arg-type]
        )
        # Parsed by hand: http.cookiejar would not keep a Secure cookie set over http.
        for header in response.raw.headers.getlist("Set-Cookie"):
            name, _, value = header.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        self.steps.append(f"{method} {path} {response.status_code} {sorted(self.cookies)}")
        return response

    def token(self, html_text: str) -> str:
        match = _CSRF.search(html_text)
        if match is None:
            raise SystemExit(f"no CSRF token on the page after {self.steps}: {html_text[:300]}")
        return match.group(1)


def submit(base: str, host: str, message: str) -> dict[str, object]:
    steps: list[str] = []
    source = Client(base, host, steps)
    page = source.call("GET", "/generate")
    codename = _CODENAME.search(page.text)
    created = source.call("POST", "/create", data={"csrf_token": source.token(page.text)})
    lookup = source.call("GET", "/lookup")
    sent = source.call(
        "POST", "/submit", data={"csrf_token": source.token(lookup.text), "msg": message}
    )
    return {
        "generate": page.status_code,
        "create": created.status_code,
        "lookup": lookup.status_code,
        "status": sent.status_code,
        "location": sent.headers.get("Location", ""),
        "codename": html.unescape(codename.group(1)).strip() if codename else "",
        "steps": steps,
    }


def resume(base: str, host: str, codename: str, message: str) -> dict[str, object]:
    """A source comes back (on another server of a cluster): logs in, sends again."""
    steps: list[str] = []
    source = Client(base, host, steps)
    page = source.call("GET", "/login")
    login = source.call(
        "POST", "/login", data={"csrf_token": source.token(page.text), "codename": codename}
    )
    lookup = source.call("GET", "/lookup")
    sent = source.call(
        "POST", "/submit", data={"csrf_token": source.token(lookup.text), "msg": message}
    )
    return {
        "login": login.status_code,
        "lookup": lookup.status_code,
        "status": sent.status_code,
        "steps": steps,
    }


def reply(
    source_base: str,
    source_host: str,
    reviewer_base: str,
    reviewer_host: str,
    codename: str,
    source_uuid: str,
    username: str,
    passphrase: str,
    totp_secret: str,
    message: str,
) -> dict[str, object]:
    steps: list[str] = []
    reviewer = Client(reviewer_base, reviewer_host, steps)
    page = reviewer.call("GET", "/login")
    login = reviewer.call(
        "POST",
        "/login",
        data={
            "csrf_token": reviewer.token(page.text),
            "username": username,
            "passphrase": passphrase,
            "code": pyotp.TOTP(totp_secret).now(),
        },
    )
    page = reviewer.call("GET", f"/sources/{source_uuid}")
    replied = reviewer.call(
        "POST",
        f"/sources/{source_uuid}/reply",
        data={"csrf_token": reviewer.token(page.text), "message": message},
    )

    source = Client(source_base, source_host, steps)
    page = source.call("GET", "/login")
    source_login = source.call(
        "POST", "/login", data={"csrf_token": source.token(page.text), "codename": codename}
    )
    lookup = source.call("GET", "/lookup")

    page = reviewer.call("GET", f"/sources/{source_uuid}/delete")
    deleted = reviewer.call(
        "POST", f"/sources/{source_uuid}/delete", data={"csrf_token": reviewer.token(page.text)}
    )
    return {
        "reviewer_login": login.status_code,
        "reply": replied.status_code,
        "source_login": source_login.status_code,
        "lookup": lookup.status_code,
        "reply_read": message in html.unescape(lookup.text),
        "delete": deleted.status_code,
        "steps": steps,
    }


if __name__ == "__main__":
    if sys.argv[1] == "submit":
        print(json.dumps(submit(*sys.argv[2:5])))
    elif sys.argv[1] == "resume":
        print(json.dumps(resume(*sys.argv[2:6])))
    else:
        print(json.dumps(reply(*sys.argv[2:12])))
