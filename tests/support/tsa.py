"""A real RFC 3161 time-stamping authority on 127.0.0.1 for the tests: `openssl ts`.

`make_tsa_ca(dir)` makes a test CA and a TSA certificate it signs (extendedKeyUsage
critical timeStamping, as RFC 3161 requires) with the openssl command line. `LocalTsa`
serves `POST /` (application/timestamp-query) by running `openssl ts -reply` on each
request; `fail=True` answers 503, like a TSA that is down, and `stop()` closes its port,
so the URL refuses connections, like a TSA that is gone. Each `local_tsa` has its own CA,
so two of them are two unrelated authorities.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_TSA_CONF = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""

_EXT = """\
[ tsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(*args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


@dataclass(frozen=True)
class TsaFiles:
    directory: Path
    ca_cert: Path  # what an admin configures: the certificate a token must chain to
    config: Path


def make_tsa_ca(directory: Path, name: str = "Test TSA") -> TsaFiles:
    """A test CA and a TSA certificate it signed, in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    d = str(directory)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt", "-days", "3650",
        "-subj", f"/CN={name} Root CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{d}/tsa.key", "-out", f"{d}/tsa.csr", "-subj", f"/CN={name}",
    )  # fmt: skip
    (directory / "ext.cnf").write_text(_EXT)
    _openssl(
        "x509", "-req", "-in", f"{d}/tsa.csr", "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key",
        "-CAcreateserial", "-out", f"{d}/tsa.crt", "-days", "3650",
        "-extfile", f"{d}/ext.cnf", "-extensions", "tsa_ext",
    )  # fmt: skip
    (directory / "serial").write_text("01\n")
    config = directory / "tsa.cnf"
    config.write_text(_TSA_CONF.format(dir=d))
    return TsaFiles(directory, directory / "ca.crt", config)


class LocalTsa:
    """An HTTP TSA on 127.0.0.1 answering with `openssl ts -reply`."""

    def __init__(self, files: TsaFiles) -> None:
        self.files = files
        self.fail = False
        self.requests = 0
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                tsa.requests += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if tsa.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                reply = tsa.reply(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the port (again: a no-op)."""
        if self._thread is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()
        self._thread = None

    def reply(self, query: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            request = Path(tmp) / "q.tsq"
            request.write_bytes(query)
            return _openssl(
                "ts", "-reply", "-config", str(self.files.config),
                "-queryfile", str(request), "-passin", "pass:",
            )  # fmt: skip


@contextmanager
def local_tsa(directory: Path, name: str = "Test TSA") -> Iterator[LocalTsa]:
    tsa = LocalTsa(make_tsa_ca(directory, name))
    tsa.start()
    try:
        yield tsa
    finally:
        tsa.stop()
