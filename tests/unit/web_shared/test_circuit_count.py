"""The cap per circuit's pure parts: what a connection's first bytes say, the count."""

from __future__ import annotations

import pytest

from web_shared.circuit_cap import PROXY_LINE_MAX, CircuitCounter, Greeting, read_greeting
from web_shared.serving import POLICY, ServingPolicy

LINE = b"PROXY TCP6 fc00:dead:beef:4dad::1:2a ::1 42 80\r\n"
CIRCUIT = "fc00:dead:beef:4dad::1:2a"
REQUEST = b"GET / HTTP/1.1\r\n"


class TestReadGreeting:
    """Wait for the request to begin; count it against the circuit tor names."""

    @pytest.mark.parametrize("data", [b"", b"P", b"PROXY", b"PROXY ", LINE[:30], LINE[:-1]])
    def test_waits_for_the_line(self, data: bytes) -> None:
        assert read_greeting(data) == Greeting(ready=False, circuit=None)

    def test_a_line_alone_waits_for_the_request(self) -> None:
        """tor writes its line on connecting, before the client's request arrives."""
        assert read_greeting(LINE) == Greeting(ready=False, circuit=CIRCUIT)

    def test_a_request_after_the_line_is_ready(self) -> None:
        assert read_greeting(LINE + b"G") == Greeting(ready=True, circuit=CIRCUIT)
        assert read_greeting(LINE + REQUEST) == Greeting(ready=True, circuit=CIRCUIT)

    def test_ipv4_line(self) -> None:
        line = b"PROXY TCP4 10.1.2.3 127.0.0.1 5000 80\r\n"
        assert read_greeting(line + REQUEST) == Greeting(ready=True, circuit="10.1.2.3")

    @pytest.mark.parametrize("data", [b"G", REQUEST, b"PROXX", b"\x16\x03\x01"])
    def test_no_line_is_ready_and_uncounted(self, data: bytes) -> None:
        """Development and health checks from 127.0.0.1: no circuit, no cap."""
        assert read_greeting(data) == Greeting(ready=True, circuit=None)

    @pytest.mark.parametrize(
        "data",
        [
            b"PROXY UNKNOWN\r\n" + REQUEST,
            b"PROXY TCP6 fc00::1 ::1 42\r\n" + REQUEST,
            b"PROXY TCP5 a b 1 2\r\n" + REQUEST,
            b"PROXY " + b"a" * PROXY_LINE_MAX,
        ],
    )
    def test_a_malformed_line_goes_to_gunicorns_refusal(self, data: bytes) -> None:
        """Ready at once, uncounted: gunicorn's parser answers 400 without waiting."""
        assert read_greeting(data) == Greeting(ready=True, circuit=None)


class TestCircuitCounter:
    def test_cap_per_circuit(self) -> None:
        counter = CircuitCounter(2)
        assert counter.take("a") and counter.take("a")
        assert not counter.take("a")
        assert counter.in_progress("a") == 2
        assert counter.take("b")  # another circuit is not affected
        counter.release("a")
        assert counter.take("a")

    def test_no_entry_kept_for_finished_circuits(self) -> None:
        counter = CircuitCounter(3)
        for circuit in ("a", "b", "c"):
            counter.take(circuit)
            counter.release(circuit)
        assert len(counter) == 0 and counter.in_progress("a") == 0

    def test_cap_of_zero_is_refused(self) -> None:
        with pytest.raises(ValueError):
            CircuitCounter(0)


class TestPolicy:
    def test_a_browser_fits_under_the_cap(self) -> None:
        """Tor Browser opens at most 6 connections to a site, one request each."""
        assert POLICY.circuit_requests >= 6

    def test_the_cap_leaves_threads_for_other_circuits(self) -> None:
        with pytest.raises(ValueError):
            ServingPolicy(threads=8, upload_slots=2, circuit_requests=8)
