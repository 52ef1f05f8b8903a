"""In production each app answers only for its own onion Host (plus the local names a
health check on the server uses) and refuses tor2web: checked on the real servers the
onion services forward to, and through Tor."""

from __future__ import annotations

import pytest
import requests

from composition.runtime import Runtime
from tests.tor.conftest import OnionServices, onion_get, tor_session
from tests.tor.network import Node


class TestProductionHost:
    """Requests naming any other host get nothing, not even the landing page."""

    @pytest.mark.parametrize("app", ["source", "journalist"])
    def test_other_hosts_are_refused_local_names_answered(
        self, served_apps: Runtime, onion_services: OnionServices, app: str
    ) -> None:
        port = onion_services.source_port if app == "source" else onion_services.journalist_port
        own = onion_services.source_host if app == "source" else onion_services.journalist_host
        other = onion_services.journalist_host if app == "source" else onion_services.source_host
        url = f"http://127.0.0.1:{port}/"

        def status(host: str) -> int:
            response = requests.get(url, headers={"Host": host}, timeout=10, allow_redirects=False)
            return response.status_code

        for refused in (other, "example.org", "attacker.example:80", f"x.{own}"):
            assert status(refused) == 421, refused
        assert status(own) in (200, 302)
        assert status("localhost") in (200, 302)
        assert status(f"127.0.0.1:{port}") in (200, 302)

    def test_tor2web_is_refused_through_tor(
        self, served_apps: Runtime, onion_services: OnionServices, probe: Node
    ) -> None:
        session = tor_session(probe)
        url = f"http://{onion_services.source_host}/"
        assert onion_get(session, probe, url).status_code == 200
        refused = session.get(url, headers={"X-tor2web": "encrypted"}, timeout=30)
        assert refused.status_code == 403
