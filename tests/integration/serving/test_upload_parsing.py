"""Uploads through the real serving path (`backupctl run`: gunicorn, the body read
straight from the socket, the streaming multipart parser, gzip, gpg) with awkward and
hostile bodies, sent in small odd-sized pieces so that delimiters, line breaks and
header blocks are split across the server's reads.

What is sealed is decrypted with the development key's secret half and compared with
what was sent; what is refused leaves nothing in the store, not even a partial file.
"""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import time
from pathlib import Path

from tests.integration.serving.conftest import HOST, Product
from tests.integration.serving.test_slow_clients import _new_source
from tests.support.slow_client import Answer, multipart, read_answer


def _send_in_pieces(product: Product, head: bytes, body: bytes, piece: int) -> Answer:
    """POST /submit with the body sent `piece` bytes at a time (TCP_NODELAY: each
    send leaves as its own segment, so the server's reads end at odd places)."""
    with socket.create_connection((HOST, product.source_port), timeout=120) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.monotonic()
        sock.sendall(head)
        for start in range(0, len(body), piece):
            sock.sendall(body[start : start + piece])
        return read_answer(sock, started)


def _post(product: Product, cookie: str, content_type: str, body: bytes, piece: int) -> Answer:
    head = (
        f"POST /submit HTTP/1.1\r\nHost: {HOST}:{product.source_port}\r\n"
        f"Connection: close\r\nCookie: {cookie}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return _send_in_pieces(product, head, body, piece)


def _store_files(product: Product) -> set[Path]:
    return {p for p in (product.instance / "store").rglob("*") if p.is_file()}


def _opened(product: Product, sealed: Path) -> bytes:
    """The plaintext of a sealed document: OpenPGP with the development key, then gzip."""
    done = subprocess.run(  # nosec B603
        [
            "gpg",
            "--homedir",
            str(product.instance / "dev-workstation-gnupg"),
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase-file",
            str(product.instance / "dev-workstation-passphrase"),
            "--decrypt",
            str(sealed),
        ],
        capture_output=True,
        check=True,
    )
    return gzip.decompress(done.stdout)


def test_files_that_look_like_boundaries_are_sealed_whole(product: Product) -> None:
    cookie, token = _new_source(product.url)
    boundary = b"----backupTrickyBoundary" + os.urandom(6).hex().encode()
    # Near-delimiters, again and again, in the data itself.
    tricky = (b"\r\n--" + boundary[:-1] + b"\r\n\r\n" + os.urandom(5000) + b"\r\n-") * 40
    big = os.urandom(3 * 1024 * 1024 + 17) + tricky
    files = [("fh", "tricky.bin", tricky), ("fh", "big.bin", big)]
    content_type, body = multipart({"csrf_token": token, "msg": ""}, files)
    made = content_type.split("boundary=")[1]
    content_type = content_type.replace(made, boundary.decode())
    body = body.replace(b"--" + made.encode(), b"--" + boundary)
    before = product.sealed()
    # In 997-byte pieces: delimiters and header blocks fall across the server's reads.
    answer = _post(product, cookie, content_type, body, 997)
    assert answer.status in (302, 303), answer
    sealed = sorted(product.sealed() - before, key=lambda p: int(p.name.split("-")[0]))
    assert [_opened(product, path) for path in sealed] == [tricky, big]


def test_a_body_without_its_closing_boundary_is_refused_and_leaves_nothing(
    product: Product,
) -> None:
    cookie, token = _new_source(product.url)
    content_type, body = multipart(
        {"csrf_token": token, "msg": ""}, [("fh", "cut.bin", os.urandom(2 * 1024 * 1024))]
    )
    boundary = content_type.split("boundary=")[1].encode()
    cut = body[: body.rindex(b"\r\n--" + boundary + b"--")]  # the file, then nothing
    before = _store_files(product)
    answer = _post(product, cookie, content_type, cut, 65_536)
    assert answer.status == 400, answer
    assert b"The form could not be read" in answer.body
    assert _store_files(product) == before


def test_huge_part_headers_are_refused_and_leave_nothing(product: Product) -> None:
    cookie, token = _new_source(product.url)
    content_type, body = multipart(
        {"csrf_token": token, "msg": ""}, [("fh", "a.bin", os.urandom(300_000))]
    )
    padding = b"X-Padding: " + b"a" * 100_000 + b"\r\n"
    body = body.replace(b"Content-Type: application/octet-stream\r\n", padding, 1)
    before = _store_files(product)
    answer = _post(product, cookie, content_type, body, 4096)
    assert answer.status == 413, answer
    assert _store_files(product) == before
