"""The booted-target test's own plumbing: a failed step says why (the command's stderr)
and leaves nothing of a half-made network behind on the host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ansible import booted


@pytest.fixture(autouse=True)
def _root() -> None:
    assert os.geteuid() == 0, "network namespaces need root"


def test_a_failing_command_shows_its_stderr() -> None:
    with pytest.raises(AssertionError) as failed:
        booted._run("ip", "link", "show", "bk-no-such-if")
    assert "ip link show bk-no-such-if failed" in str(failed.value)
    assert "does not exist" in str(failed.value)  # ip's own words


def test_a_network_is_made_and_undone() -> None:
    net = booted.Network.create()
    try:
        assert net.exists()
        inside = booted._run("ip", "-n", net.name, "addr", "show").stdout
        assert net.guest_address in inside
    finally:
        net.remove()
    assert not net.exists()


@pytest.mark.parametrize("failing", ["route", "nft"])
def test_a_step_that_fails_undoes_what_was_made(
    monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """A late step fails (here made to): the namespace, the veth and the NAT table made
    before it are gone, and ip_forward is as it was."""
    made: list[booted.Network] = []
    real_run = booted._run
    real_make = booted.Network._make
    forward_before = Path("/proc/sys/net/ipv4/ip_forward").read_text()

    def spy_make(self: booted.Network, guest_if: str) -> None:
        made.append(self)
        real_make(self, guest_if)

    def run(*argv: str, check: bool = True, stdin: str | None = None) -> object:
        making = argv[:2] == ("nft", "-f") if failing == "nft" else "route" in argv
        if making:
            raise AssertionError(f"{' '.join(argv)} failed (2): injected")
        return real_run(*argv, check=check, stdin=stdin)

    monkeypatch.setattr(booted.Network, "_make", spy_make)
    monkeypatch.setattr(booted, "_run", run)
    with pytest.raises(AssertionError, match="injected"):
        booted.Network.create()
    monkeypatch.undo()
    [net] = made
    assert not net.exists(), f"{net} left behind"
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forward_before
