"""Rendering the production torrc (pure): what it must and must never contain."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from onion.errors import TorConfigError
from onion.torrc import ServerTorrc, render_server_torrc


def _lines(settings: ServerTorrc) -> list[str]:
    return [
        line
        for line in render_server_torrc(settings).splitlines()
        if line and not line.startswith("#")
    ]


class TestRenderServerTorrc:
    """One v3 service per app; no client traffic; never non-anonymous."""

    def test_one_v3_service_per_app_with_limits_and_pow(self) -> None:
        lines = _lines(ServerTorrc())
        assert [line for line in lines if line.startswith("HiddenServiceDir")] == [
            "HiddenServiceDir /var/lib/tor/backup/source",
            "HiddenServiceDir /var/lib/tor/backup/journalist",
        ]
        assert lines.count("HiddenServiceVersion 3") == 2
        assert "HiddenServicePort 80 127.0.0.1:8080" in lines
        assert "HiddenServicePort 80 127.0.0.1:8081" in lines
        assert lines.count("HiddenServicePoWDefensesEnabled 1") == 2
        assert lines.count("HiddenServiceMaxStreams 20") == 2
        assert lines.count("HiddenServiceMaxStreamsCloseCircuit 1") == 2

    def test_circuit_ids_and_intro_point_limits_for_both_apps(self) -> None:
        lines = _lines(ServerTorrc())
        assert lines.count("HiddenServiceExportCircuitID haproxy") == 2
        assert lines.count("HiddenServiceEnableIntroDoSDefense 1") == 2
        assert lines.count("HiddenServiceEnableIntroDoSRatePerSec 25") == 2
        assert lines.count("HiddenServiceEnableIntroDoSBurstPerSec 200") == 2

    def test_ssh_gets_intro_limits_but_no_proxy_line(self) -> None:
        lines = _lines(ServerTorrc(ssh_target="127.0.0.1:22"))
        ssh = lines[lines.index("HiddenServiceDir /var/lib/tor/backup/ssh") :]
        assert "HiddenServiceEnableIntroDoSDefense 1" in ssh
        assert "HiddenServiceExportCircuitID haproxy" not in ssh
        assert lines.count("HiddenServiceExportCircuitID haproxy") == 2

    @pytest.mark.parametrize(("rate", "burst"), [(0, 200), (25, 0), (300, 200), (-1, 5)])
    def test_intro_limits_that_would_switch_the_defence_off_are_refused(
        self, rate: int, burst: int
    ) -> None:
        with pytest.raises(TorConfigError):
            render_server_torrc(ServerTorrc(intro_dos_rate=rate, intro_dos_burst=burst))

    def test_no_socks_no_relay_no_single_hop(self) -> None:
        lines = _lines(ServerTorrc())
        for required in (
            "SocksPort 0",
            "ORPort 0",
            "ExitRelay 0",
            "HiddenServiceSingleHopMode 0",
            "HiddenServiceNonAnonymousMode 0",
            "SafeLogging 1",
            "User debian-tor",
        ):
            assert required in lines
        assert not [line for line in lines if line.startswith("ControlPort")]

    @pytest.mark.parametrize(
        "target", ["0.0.0.0:8080", "10.0.0.2:80", "127.0.0.1:0", "127.0.0.1:8080\nSocksPort 9050"]
    )
    def test_targets_other_than_loopback_are_refused(self, target: str) -> None:
        with pytest.raises(TorConfigError):
            render_server_torrc(ServerTorrc(source_target=target))

    def test_ssh_is_a_third_service_only_when_asked_for(self) -> None:
        assert "HiddenServicePort 22" not in render_server_torrc(ServerTorrc())
        lines = _lines(ServerTorrc(ssh_target="127.0.0.1:22"))
        at = lines.index("HiddenServiceDir /var/lib/tor/backup/ssh")
        assert lines[at : at + 3] == [
            "HiddenServiceDir /var/lib/tor/backup/ssh",
            "HiddenServiceVersion 3",
            "HiddenServicePort 22 127.0.0.1:22",
        ]
        assert lines.count("HiddenServiceVersion 3") == 3
        # The client-authorized services are the reviewer's and the SSH one.
        text = render_server_torrc(ServerTorrc(ssh_target="127.0.0.1:22"))
        assert text.count(": v3 client authorization") == 2

    @pytest.mark.parametrize("target", ["0.0.0.0:22", "192.0.2.1:22", "127.0.0.1:22\nSocksPort 1"])
    def test_ssh_target_is_loopback_only(self, target: str) -> None:
        with pytest.raises(TorConfigError):
            render_server_torrc(ServerTorrc(ssh_target=target))

    def test_a_line_break_in_a_path_cannot_inject_options(self) -> None:
        evil = PurePosixPath("/var/lib/tor\nHiddenServiceNonAnonymousMode 1")
        with pytest.raises(TorConfigError):
            render_server_torrc(ServerTorrc(services_dir=evil))
        with pytest.raises(TorConfigError):
            render_server_torrc(ServerTorrc(user="root\nSocksPort 0.0.0.0:9050"))

    def test_relative_paths_and_silly_limits_are_refused(self) -> None:
        with pytest.raises(TorConfigError):
            render_server_torrc(ServerTorrc(data_dir=PurePosixPath("var/lib/tor")))
        with pytest.raises(TorConfigError):
            render_server_torrc(ServerTorrc(max_streams=0))


def test_a_client_socket_for_the_time_stamps_is_a_unix_socket_only() -> None:
    lines = _lines(ServerTorrc(client_socket=PurePosixPath("/run/tor/socks")))
    assert "SocksPort unix:/run/tor/socks GroupWritable RelaxDirModeCheck" in lines
    assert "SocksPort 0" not in lines
    assert [line for line in lines if line.startswith("SocksPort")] == [
        "SocksPort unix:/run/tor/socks GroupWritable RelaxDirModeCheck"
    ]
    with pytest.raises(TorConfigError):
        render_server_torrc(ServerTorrc(client_socket=PurePosixPath("/run/tor/s\nSocksPort 9050")))


def test_the_federation_service_is_client_authorized_and_needs_a_client_socket() -> None:
    with pytest.raises(TorConfigError, match="client_socket"):
        render_server_torrc(ServerTorrc(federation_target="127.0.0.1:8082"))
    text = render_server_torrc(
        ServerTorrc(
            federation_target="127.0.0.1:8082",
            client_socket=PurePosixPath("/run/tor/socks"),
            client_auth_dir=PurePosixPath("/var/lib/tor/backup/federation_clients"),
        )
    )
    block = text.split("# federation interface", 1)[1]
    assert block.startswith(": v3 client authorization")
    assert "HiddenServiceDir /var/lib/tor/backup/federation\n" in block
    assert "HiddenServicePort 80 127.0.0.1:8082\n" in block
    assert "ClientOnionAuthDir /var/lib/tor/backup/federation_clients\n" in text
    with pytest.raises(TorConfigError):
        render_server_torrc(
            ServerTorrc(
                federation_target="0.0.0.0:8082",
                client_socket=PurePosixPath("/run/tor/socks"),
            )
        )
    assert "federation" not in render_server_torrc(ServerTorrc())
