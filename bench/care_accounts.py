"""The reviewer accounts of bench/care_latency.py, made and used as people do: created
with `backupctl admin create` (the passphrase and TOTP secret read from what it prints
once), logged in over HTTP with a TOTP code and the pages' CSRF tokens, and put on care
duty by an admin on the reviewer's admin page."""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pyotp

from bench.tor_speed_uploads import CSRF_TOKEN, HOST, BackUp, fetch


@dataclass
class Account:
    username: str
    passphrase: str
    otp_secret: str


@dataclass
class Reviewer:
    """A reviewer logged in over HTTP: one keep-alive connection and its cookies."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    login_step: int = 0

    def __post_init__(self) -> None:
        self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)

    def page(self, path: str, form: dict[str, str] | None = None) -> str:
        """GET `path`, or POST `form` to it; the page's text."""
        if form is not None:
            return fetch(self.conn, "POST", path, self.cookies, form)
        try:
            return fetch(self.conn, "GET", path, self.cookies)
        except (http.client.HTTPException, ConnectionError):
            self.conn.close()  # the server closed a kept-alive connection: GET once more
            return fetch(self.conn, "GET", path, self.cookies)

    def login(self, account: Account) -> None:
        self.login_step = int(time.time() // 30)
        code = pyotp.TOTP(account.otp_secret).now()
        self.page(
            "/login",
            {
                "csrf_token": csrf(self.page("/login")),
                "username": account.username,
                "passphrase": account.passphrase,
                "code": code,
            },
        )
        if "/logout" not in self.page("/"):
            raise RuntimeError(f"{account.username} is not logged in")


def csrf(page: str) -> str:
    token = CSRF_TOKEN.search(page)
    if not token:
        raise RuntimeError("no CSRF token on the page")
    return token.group(1)


def create_account(server: BackUp, username: str, role: str) -> Account:
    """`backupctl admin create`, as an admin runs it; the passphrase and TOTP secret
    read from what it prints once."""
    out = subprocess.run(
        [sys.executable, "-m", "backupctl", "admin", "create", username, "--role", role],
        cwd=server.root,
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    passphrase = re.search(r"Passphrase \(shown once\):\n\s+(.+)\n", out)
    secret = re.search(r"\(TOTP, shown once\):\n\s+(.+)\n", out)
    if not passphrase or not secret or "could not be made" in out:
        raise RuntimeError(f"backupctl admin create {username}: unexpected output")
    return Account(username, passphrase.group(1).strip(), secret.group(1).replace(" ", ""))


def put_on_duty(server: BackUp, admin: Account, username: str) -> None:
    """The admin's way: Admin → the reviewer → "Put on care duty"."""
    session = Reviewer(server.journalist_port)
    session.login(admin)
    link = re.search(
        r'href="(/admin/reviewers/[^"]+)">' + re.escape(username) + "<", session.page("/admin/")
    )
    if not link:
        raise RuntimeError(f"{username} is not on the admin page")
    page = session.page(link.group(1))
    session.page(link.group(1) + "/care-duty", {"csrf_token": csrf(page), "on_duty": "1"})
    if "Take off care duty" not in session.page(link.group(1)):
        raise RuntimeError(f"{username} was not put on care duty")
    session.conn.close()
