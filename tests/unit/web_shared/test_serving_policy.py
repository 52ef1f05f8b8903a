"""The serving policy and the worker's pure parts: deadlines, refusals, settings."""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest
from gunicorn.config import Config
from gunicorn.http import errors as http_errors

from web_shared.security import SECURITY_HEADERS
from web_shared.serving import (
    POLICIES,
    POLICY,
    SOURCE_POLICY,
    ServingPolicy,
    gunicorn_settings,
    parse_bind,
)
from web_shared.serving_worker import (
    SlowReaderError,
    _Deadline,
    _write_deadline,
    error_response,
    error_status,
)
from web_shared.upload_slots import is_upload


class TestSettings:
    """What gunicorn is given, validated by gunicorn's own Config."""

    def test_gunicorn_accepts_every_setting(self) -> None:
        cfg = Config()
        for name, value in gunicorn_settings("127.0.0.1:8080").items():
            cfg.set(name, value)
        assert cfg.worker_class_str == "web_shared.serving_worker.GuardedThreadWorker"
        assert cfg.threads == POLICY.threads and cfg.workers == POLICY.workers
        assert cfg.proxy_protocol == "v1" and cfg.proxy_allow_ips == ["127.0.0.1"]
        assert cfg.forwarded_allow_ips == []
        assert cfg.accesslog is None

    @pytest.mark.parametrize(
        "bind", ["0.0.0.0:8080", "[::1]:8080", "10.0.0.1:80", "127.0.0.1", "127.0.0.1:0", "x:1"]
    )
    def test_only_loopback_ipv4_binds(self, bind: str) -> None:
        with pytest.raises(ValueError):
            parse_bind(bind)

    def test_the_policy_keeps_threads_for_pages(self) -> None:
        with pytest.raises(ValueError):
            ServingPolicy(threads=8, upload_slots=8)
        for policy in POLICIES.values():
            assert policy.threads - policy.upload_slots >= policy.threads // 2

    def test_the_source_interface_has_one_worker_with_the_capacity_of_two(self) -> None:
        cfg = Config()
        for name, value in gunicorn_settings("127.0.0.1:8080", POLICIES["source"]).items():
            cfg.set(name, value)
        assert cfg.workers == 1
        assert cfg.threads == POLICY.workers * POLICY.threads
        assert SOURCE_POLICY.upload_slots == POLICY.workers * POLICY.upload_slots
        assert cfg.worker_connections == POLICY.workers * POLICY.worker_connections
        assert POLICIES["journalist"] is POLICY

    def test_the_interfaces_share_every_limit_on_a_connection(self) -> None:
        """The worker class (web_shared.serving_worker) reads its deadlines and caps from
        POLICY whichever interface it serves: only the process model (processes,
        threads, connections, which gunicorn's settings carry, and the upload slots,
        which the app carries) may differ."""
        process_model = {"workers", "threads", "upload_slots", "worker_connections"}
        for field in dataclasses.fields(ServingPolicy):
            if field.name not in process_model:
                assert getattr(SOURCE_POLICY, field.name) == getattr(POLICY, field.name)


class TestDeadline:
    """Head: a fixed time. Body: a grace plus the bytes received at the minimum rate."""

    def test_head_deadline(self) -> None:
        deadline = _Deadline(POLICY)
        deadline.start_head()
        assert POLICY.head_timeout_seconds - 1 < deadline.remaining() <= POLICY.head_timeout_seconds

    def test_a_20_kb_s_upload_is_never_cut(self) -> None:
        """After t seconds at 20 KB/s the deadline lies ahead by grace + 4·t seconds."""
        deadline = _Deadline(POLICY)
        deadline.start_body()
        for _second in range(600):
            deadline.count(20_000)
        # 600 s of data arrived at once here: 30 s + 12 MB / 4 KB/s = 3030 s allowed.
        assert deadline.remaining() > 600 * 20_000 / POLICY.body_min_rate_bytes_per_second

    def test_a_trickle_runs_out(self) -> None:
        policy = ServingPolicy(body_grace_seconds=0.05, body_min_rate_bytes_per_second=1000)
        deadline = _Deadline(policy)
        deadline.start_body()
        deadline.count(10)  # 10 ms more
        time.sleep(0.1)
        assert deadline.remaining() < 0


class TestWriteDeadline:
    """A write must finish within a grace plus its size at the minimum rate."""

    def test_a_write_nobody_reads_runs_out(self) -> None:
        policy = ServingPolicy(send_grace_seconds=0.2, send_min_rate_bytes_per_second=10**9)
        left, right = socket.socketpair()
        with left, right:
            with pytest.raises(SlowReaderError), _write_deadline(left, 1 << 24, policy):
                left.sendall(b"\0" * (1 << 24))  # far more than the pair's buffers
            assert left.gettimeout() is None  # blocking again for the next read

    def test_the_allowance_grows_with_the_size(self) -> None:
        left, right = socket.socketpair()
        with left, right, _write_deadline(left, 40_000, POLICY):
            expected = POLICY.send_grace_seconds + 40_000 / POLICY.send_min_rate_bytes_per_second
            assert left.gettimeout() == pytest.approx(expected)


class TestGunicornErrors:
    """gunicorn's own refusals: the right status, our headers, a body naming nothing."""

    @pytest.mark.parametrize(
        ("exc", "status"),
        [
            (http_errors.InvalidRequestLine("GET /secret"), 400),
            (http_errors.InvalidHeader("X"), 400),
            (http_errors.LimitRequestHeaders("too many"), 431),
            (http_errors.LimitRequestLine(9000, 4094), 414),
            (http_errors.ForbiddenProxyRequest("10.0.0.1"), 403),
            (RuntimeError("boom"), 500),
        ],
    )
    def test_status(self, exc: BaseException, status: int) -> None:
        assert error_status(exc)[0] == status

    def test_response_carries_our_headers_and_nothing_else(self) -> None:
        raw = error_response(400, "Bad Request")
        head, body = raw.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        assert lines[0] == "HTTP/1.1 400 Bad Request"
        for name, value in SECURITY_HEADERS:
            assert f"{name}: {value}" in lines
        assert body == b"400 Bad Request\n"
        assert b"gunicorn" not in raw.lower()


class TestIsUpload:
    @pytest.mark.parametrize(
        ("method", "length", "expected"),
        [
            ("POST", 200, False),
            ("POST", 64 * 1024 + 1, True),
            ("POST", None, True),
            ("GET", None, False),
            ("PUT", 10**6, True),
        ],
    )
    def test_large_or_unknown_bodies_are_uploads(
        self, method: str, length: int | None, expected: bool
    ) -> None:
        assert is_upload(method, length, 64 * 1024) is expected
