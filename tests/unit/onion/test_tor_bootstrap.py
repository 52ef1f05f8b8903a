"""Reading tor's bootstrap phase: how far it got, and whether it says it cannot connect."""

from __future__ import annotations

from onion.dev import parse_bootstrap


class TestParseBootstrap:
    """`GETINFO status/bootstrap-phase` lines, as tor 0.4.9 writes them."""

    def test_done(self) -> None:
        state = parse_bootstrap('NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"')
        assert state.done and state.progress == 100
        assert state.summary == "Done" and state.warning is None

    def test_in_progress_without_a_problem(self) -> None:
        state = parse_bootstrap(
            'NOTICE BOOTSTRAP PROGRESS=14 TAG=handshake SUMMARY="Handshaking with a relay"'
        )
        assert not state.done and state.progress == 14
        assert state.summary == "Handshaking with a relay" and state.warning is None

    def test_a_problem_tor_recommends_telling(self) -> None:
        # Copied from a tor whose only bridge refuses connections.
        state = parse_bootstrap(
            'WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" '
            'WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=1 '
            'RECOMMENDATION=warn HOSTID="0000000000000000000000000000000000000000" '
            'HOSTADDR="127.0.0.1:9"'
        )
        assert state.progress == 5 and not state.done
        assert state.summary == "Connecting to a relay"
        assert state.warning == "Connection refused"

    def test_a_passing_problem_is_not_reported(self) -> None:
        state = parse_bootstrap(
            'WARN BOOTSTRAP PROGRESS=10 TAG=conn_done SUMMARY="Connected to a relay" '
            'WARNING="Connection timed out" REASON=TIMEOUT COUNT=1 RECOMMENDATION=ignore'
        )
        assert state.warning is None

    def test_quoted_values_with_escaped_quotes_and_garbage(self) -> None:
        state = parse_bootstrap(
            'WARN BOOTSTRAP PROGRESS=5 SUMMARY="say \\"hi\\"" RECOMMENDATION=warn REASON=NOROUTE'
        )
        assert state.summary == 'say "hi"' and state.warning == "NOROUTE"
        assert parse_bootstrap("").progress == 0
