"""A source's first visit to a deployed source app: codename, then one message.

Run by test_booted.py inside the booted target's network namespace (the apps listen on
its loopback only): `python submit_flow.py BASE_URL ONION_HOST MESSAGE`. Prints JSON.
"""

from __future__ import annotations

import json
import re
import sys

import requests

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _token(html: str, steps: list[str]) -> str:
    match = _CSRF.search(html)
    if match is None:
        raise SystemExit(f"no CSRF token on the page after {steps}: {html[:300]}")
    return match.group(1)


def main(base: str, host: str, message: str) -> dict[str, object]:
    # The production cookie is Secure (__Host-): Tor Browser sends it to an .onion over
    # http, requests would not; the cookies are carried by hand instead.
    cookies: dict[str, str] = {}
    headers = {"Host": host}
    steps: list[str] = []

    def call(method: str, path: str, **kwargs: object) -> requests.Response:
        jar = "; ".join(f"{name}={value}" for name, value in cookies.items())
        response = requests.request(
            method,
            f"{base}{path}",
            headers={**headers, **({"Cookie": jar} if jar else {})},
            allow_redirects=False,
            timeout=60,
            **kwargs,  # type: ignore[arg-type]
        )
        # Parsed by hand: http.cookiejar would not keep a Secure cookie set over http.
        for header in response.raw.headers.getlist("Set-Cookie"):
            name, _, value = header.split(";", 1)[0].partition("=")
            cookies[name.strip()] = value.strip()
        steps.append(f"{method} {path} {response.status_code} {sorted(cookies)}")
        return response

    page = call("GET", "/generate")
    created = call("POST", "/create", data={"csrf_token": _token(page.text, steps)})
    lookup = call("GET", "/lookup")
    sent = call("POST", "/submit", data={"csrf_token": _token(lookup.text, steps), "msg": message})
    return {
        "generate": page.status_code,
        "create": created.status_code,
        "lookup": lookup.status_code,
        "status": sent.status_code,
        "location": sent.headers.get("Location", ""),
        "steps": steps,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3])))
