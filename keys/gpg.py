"""The gpg adapter: python-gnupg for key management and small data, a direct gpg pipe
for streaming uploads.

Why a direct pipe for streams: python-gnupg's `encrypt_file` pulls from a readable
object through a thread copying 1 KiB at a time; an upload is pushed to us by the
multipart parser, so we feed gpg ourselves (keys.gpg_stream).

gpg's own compression is always off (`--compress-algo none`): it cuts throughput
several-fold on incompressible data; the store gzips by content instead.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import shutil
import subprocess  # nosec B404
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import gnupg

from keys.errors import (
    DecryptionError,
    KeyOperationError,
    KeyringError,
    OutputTooLargeError,
    SealError,
)
from keys.gpg_stream import GpgStream, shred_file
from keys.keyfiles import PublicKeyFiles
from vault.ports import PortableKey

# The agent must never cache a passphrase: each source's reply key may be used only
# during a request that carries its codename-derived passphrase.
_AGENT_CONF = (
    "default-cache-ttl 0\nmax-cache-ttl 0\nallow-loopback-pinentry\n"
    # Reply-key passphrases are 256-bit scrypt outputs: iterating S2K adds nothing
    # but ~0.6 s per key operation, so use the minimum count.
    "s2k-count 65536\n"
)
# What `open_bytes` returns at most unless told otherwise: it opens small items in
# memory (replies, notes), and a 1 KB message can inflate to gigabytes (bzip2 inside).
DEFAULT_MAX_OUTPUT = 1024 * 1024
# gpg's words when --max-output stops it (it still reports DECRYPTION_OKAY after).
_MAX_OUTPUT_MARK = "exceeded --max-output limit"
_KEYGEN_ATTEMPTS = 3
# Throwaway homes (`GpgKeyring._throwaway_home`): their names' prefix, and how long
# after its last change one left behind by a process that died is removed by the next
# server keyring opened (seconds; far above any request: a live one is never taken).
_THROWAWAY_PREFIX = "backup-gpg-"
# A home's agent socket is `<home>/S.gpg-agent.browser` at the longest, and a unix
# socket's path holds 107 bytes: mkdtemp adds 8 characters to the prefix.
_SOCKET_PATH_MAX = 107
_THROWAWAY_SOCKET_OVERHEAD = len(f"/{_THROWAWAY_PREFIX}12345678/S.gpg-agent.browser")
_STALE_THROWAWAY_SECONDS = 3600
_BASE_ARGS = ("--batch", "--no-tty", "--quiet", "--yes", "--trust-model", "always")


def prepare_home(home: Path) -> Path:
    """Create a GnuPG home (0700) whose agent caches nothing."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    conf = home / "gpg-agent.conf"
    if not conf.exists() or conf.read_text() != _AGENT_CONF:
        conf.write_text(_AGENT_CONF)
    return home


# The workstation's key is locked by a human passphrase (gpg's default S2K, kept), and
# its agent must not cache it either: with the default 10 minutes, anyone at the
# keyboard after a decryption could decrypt again with any passphrase at all.
_NO_CACHE = ("default-cache-ttl 0", "max-cache-ttl 0", "allow-loopback-pinentry")


def prepare_workstation_home(home: Path) -> Path:
    """Create a GnuPG home (0700) whose agent caches no passphrase, keeping the rest of
    an existing gpg-agent.conf; a running agent re-reads it (and forgets what it cached).
    """
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    conf = home / "gpg-agent.conf"
    lines = conf.read_text().splitlines() if conf.exists() else []
    settings = {line.split(maxsplit=1)[0] for line in _NO_CACHE}
    kept = [line for line in lines if (line.split() or [""])[0] not in settings]
    wanted = [*kept, *_NO_CACHE]
    if lines != wanted:
        conf.write_text("".join(f"{line}\n" for line in wanted))
        # SIGHUP to a running agent: it reads the file again and flushes its cache.
        subprocess.run(  # nosec B603 B607
            ["gpgconf", "--homedir", str(home), "--reload", "gpg-agent"],
            check=False,
            capture_output=True,
            timeout=60,
        )
    return home


def launch_agent(home: Path) -> None:
    """Start the home's gpg-agent now (and wait for it), rather than on first use."""
    subprocess.run(  # nosec B603 B607
        ["gpgconf", "--homedir", str(home), "--launch", "gpg-agent"],
        check=False,
        capture_output=True,
        timeout=60,
    )


def kill_agent(home: Path) -> None:
    """Stop the gpg-agent of a home (tests and key ceremonies clean up after themselves)."""
    subprocess.run(  # nosec B603 B607
        ["gpgconf", "--homedir", str(home), "--kill", "all"],
        check=False,
        capture_output=True,
    )


def generate_key(
    home: Path,
    spec: str,
    passphrase: str | None,
    *,
    binary: str = "gpg",
    keyring: Path | None = None,
) -> tuple[str | None, str]:
    """Run `gpg --gen-key` on `spec` (batch_key_spec); (the new key's fingerprint, or
    None, and gpg's status lines). `keyring`: write the key there, not to the home's.

    The passphrase also goes to gpg by loopback, through a pipe. Our agents cache
    nothing, and right after making a key gpg signs its user id and subkey binding,
    for which the agent needs the passphrase again: without loopback it asks pinentry,
    which has no terminal here, and the key is not made ("Inappropriate ioctl for
    device"), the more often the busier the machine. A pipe, not a file or an argument:
    a codename-derived passphrase never reaches the disk or the process list.
    """
    argv = [binary, "--homedir", str(home), *_BASE_ARGS, "--status-fd", "1"]
    if keyring is not None:
        argv += ["--no-default-keyring", "--keyring", str(keyring)]
    read_end = write_end = -1
    pass_fds: tuple[int, ...] = ()
    try:
        if passphrase is not None:
            read_end, write_end = os.pipe()
            os.write(write_end, passphrase.encode("utf-8") + b"\n")  # far below a pipe's size
            os.close(write_end)
            write_end = -1
            argv += ["--pinentry-mode", "loopback", "--passphrase-fd", str(read_end)]
            pass_fds = (read_end,)
        proc = subprocess.run(  # nosec B603
            [*argv, "--gen-key"],
            input=spec.encode("utf-8"),
            capture_output=True,
            pass_fds=pass_fds,
            check=False,
            timeout=300,
        )
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    status = proc.stdout.decode("utf-8", "replace")
    for line in status.splitlines():
        fields = line.split()
        if fields[:2] == ["[GNUPG:]", "KEY_CREATED"] and len(fields) >= 4:
            return fields[3].upper(), status
    return None, status + proc.stderr.decode("utf-8", "replace")[-500:]


def batch_key_spec(name: str, passphrase: str | None, *, rsa: bool = False) -> str:
    """gpg's unattended key-generation parameters.

    Written out here rather than with python-gnupg's `gen_key_input`, whose defaults put
    the login name and host name of the machine in the user id.
    """
    if any(c in name for c in "\r\n\0") or (passphrase and any(c in passphrase for c in "\r\n")):
        raise KeyOperationError("key name and passphrase must be single lines")
    if rsa:
        algo = "Key-Type: RSA\nKey-Length: 4096\nSubkey-Type: RSA\nSubkey-Length: 4096\n"
    else:
        algo = (
            "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\n"
            "Subkey-Type: ECDH\nSubkey-Curve: cv25519\nSubkey-Usage: encrypt\n"
        )
    protection = f"Passphrase: {passphrase}\n" if passphrase else "%no-protection\n"
    return f"{algo}Name-Real: {name}\nExpire-Date: 0\n{protection}%commit\n"


# Where a home finds the armored public half of a key it lacks (None: unknown).
PublicKeyLookup = Callable[[str], "str | None"]


class _Listed(NamedTuple):
    """One key of a `--with-colons` listing."""

    fingerprint: str
    secret: bool
    key_ids: tuple[str, ...]  # the primary key's and its subkeys'


def _parse_listing(colons: str) -> list[_Listed]:
    keys: list[_Listed] = []
    fingerprint, secret, ids, want_fpr = "", False, list[str](), False
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sec"):
            if fingerprint:
                keys.append(_Listed(fingerprint, secret, tuple(ids)))
            fingerprint, secret, ids, want_fpr = "", fields[0] == "sec", [fields[4]], True
        elif fields[0] in ("sub", "ssb") and len(fields) > 4:
            ids.append(fields[4])
            want_fpr = False
        elif fields[0] == "fpr" and want_fpr and len(fields) > 9:
            fingerprint, want_fpr = fields[9].upper(), False
    if fingerprint:
        keys.append(_Listed(fingerprint, secret, tuple(ids)))
    return [key._replace(key_ids=tuple(k.upper() for k in key.key_ids if k)) for key in keys]


def _named_in(colons: str, name: str) -> set[str]:
    """The fingerprints of the keys of a `--with-colons` listing whose one user id is
    `name` (gpg escapes a user id's colons and non-printable bytes as \\xNN)."""
    found, uids, fingerprint, want_fpr = set[str](), list[str](), "", False

    def close() -> None:
        if fingerprint and uids == [name]:
            found.add(fingerprint)

    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sec"):
            close()
            fingerprint, uids, want_fpr = "", [], True
        elif fields[0] == "fpr" and want_fpr and len(fields) > 9:
            fingerprint, want_fpr = fields[9].upper(), False
        elif fields[0] == "uid" and len(fields) > 9:
            uids.append(fields[9])
        elif fields[0] in ("sub", "ssb"):
            want_fpr = False
    close()
    return found


class GpgKeyring:
    """One GnuPG home: the submission public key, and the keys of one process's side
    (the source interface's reply keys, or the reviewer interface's account keys).

    A server home (`server=True`) keeps every public key it uses as a file of its own
    that is never replaced (keys.keyfiles): sealing, opening and the reads of a request
    never read gpg's keyring, which gpg replaces by renaming while keys are made. Its
    own keyring (`pubring.kbx`) only holds what the operator loads (`import_keys`) and
    keys made before; those are copied to key files when the home is opened.
    """

    def __init__(
        self,
        home: Path,
        binary: str = "gpg",
        *,
        server: bool = True,
        public_keys: PublicKeyLookup | None = None,
    ) -> None:
        """`server=True`: the agent caches nothing and uses a minimal S2K count, for
        keys locked by 256-bit derived passphrases. The workstation passes False: its
        key is locked by a human passphrase and keeps gpg's S2K defaults, but its agent
        caches nothing either (`prepare_workstation_home`).

        `public_keys` (server homes): where to find the public half of a key made in
        another process's home (the database keeps them), written to a key file of
        this home before sealing to it."""
        if server:
            self.home = prepare_home(home)
            launch_agent(self.home)
        else:
            self.home = prepare_workstation_home(home)
        self.binary = binary
        self._gpg = gnupg.GPG(gnupghome=str(self.home), gpgbinary=binary)
        self._gpg.encoding = "utf-8"
        self._public_keys = public_keys
        self._files: PublicKeyFiles | None = None
        if server:
            self._files = PublicKeyFiles(self.home / "public")
            self._scratch = self.home / "scratch"
            self._scratch.mkdir(mode=0o700, exist_ok=True)
            self._clear_stale_throwaways()
            self._publish_keyring_keys()

    # -- the key files of a server home -------------------------------------------------
    def _run(self, args: Sequence[str], data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(  # nosec B603
            [self.binary, "--homedir", str(self.home), *_BASE_ARGS, *args],
            input=data,
            capture_output=True,
            check=False,
        )

    def _show(self, data: bytes) -> list[_Listed]:
        """The keys in `data` (armored or not), read by gpg without any keyring."""
        done = self._run(["--no-keyring", "--with-colons", "--show-keys"], data)
        return _parse_listing(done.stdout.decode(errors="replace")) if done.returncode == 0 else []

    @contextlib.contextmanager
    def _writing_keyring(self) -> Iterator[None]:
        """Held (flock, across processes and threads) around this code's writes of the
        home's own keyring and its reads of it. Requests never take it: only the
        operator's imports, deletions, and the copy to key files when a home opens."""
        with open(self.home / ".keyring.lock", "ab") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            yield

    @contextlib.contextmanager
    def _reading(self, paths: Iterable[Path]) -> Iterator[gnupg.GPG | None]:
        """A python-gnupg handle whose only keyrings are private hard links to `paths`
        (None if none of them exists any more). Links, because gpg creates a keyring it
        is given that is missing: a key deleted meanwhile must not reappear, empty."""
        private = Path(tempfile.mkdtemp(dir=self._scratch))
        try:
            links = []
            for index, path in enumerate(paths):
                link = private / f"{index}.gpg"
                try:
                    os.link(path, link)
                except FileNotFoundError:
                    continue
                links.append(str(link))
            if not links:
                yield None
                return
            handle = copy.copy(self._gpg)
            handle.keyring = links  # python-gnupg: --no-default-keyring --keyring ...
            yield handle
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def _key_files(self) -> PublicKeyFiles:
        if self._files is None:
            raise KeyringError("not a server home")
        return self._files

    def _publish_keyring_keys(self) -> None:
        """Copy to key files the keys of the home's own keyring that have none (keys
        loaded or made before key files, or imported by hand)."""
        files = self._key_files()
        if not any((self.home / name).exists() for name in ("pubring.kbx", "pubring.gpg")):
            return
        with self._writing_keyring():
            for key in self._gpg.list_keys():
                fingerprint = str(key["fingerprint"]).upper()
                if files.get(fingerprint) is not None:
                    continue
                data = self._gpg.export_keys(fingerprint, armor=False)
                ids = [str(key["keyid"]), *(str(sub[0]) for sub in key.get("subkeys", []))]
                if data:
                    files.publish(fingerprint, bytes(data), ids)

    def _key_file(self, fingerprint: str, *, lookup: bool = True) -> Path | None:
        """The key's file; written first from `public_keys` if the home lacks it and
        `lookup`. Only the public half of the very key asked for, never a secret one."""
        files = self._key_files()
        path = files.get(fingerprint)
        if path is not None or not lookup or self._public_keys is None:
            return path
        fingerprint = fingerprint.upper()
        armored = self._public_keys(fingerprint)
        if not armored or "PRIVATE KEY BLOCK" in armored:
            return None
        listed = self._show(armored.encode())
        if [(key.fingerprint, key.secret) for key in listed] != [(fingerprint, False)]:
            return None
        binary = self._run(["--no-keyring", "--dearmor"], armored.encode())
        if binary.returncode != 0 or not binary.stdout:
            return None
        return files.publish(fingerprint, binary.stdout, listed[0].key_ids)

    def _recipient_args(self, recipients: Sequence[str]) -> list[str]:
        if not recipients:
            raise SealError("no recipient")
        args = ["--no-keyring"]
        for fingerprint in recipients:
            path = self._key_file(fingerprint)
            if path is None:
                raise SealError(f"no public key {fingerprint}")
            args += ["--recipient-file", str(path)]
        return args

    def key_file(self, fingerprint: str) -> Path | None:
        """A server home's file of the public key (`--recipient-file` for gpg), if any."""
        return self._key_files().get(fingerprint)

    def public_fingerprints(self) -> list[str]:
        """The fingerprints of the public keys a server home holds."""
        return self._key_files().fingerprints()

    # -- throwaway homes: a portable key used without ever entering this home ---------
    @contextlib.contextmanager
    def _throwaway_home(self) -> Iterator[Path]:
        """A GnuPG home of its own for one operation, removed afterwards: its agent
        stopped, its secret key files overwritten.

        In the system's temporary directory (a private one under systemd, PrivateTmp),
        mkdtemp's 0700: a home's agent listens on a socket inside it, and a socket path
        is limited to 107 bytes, which a home under an instance directory can pass."""
        if self._files is None:
            raise KeyringError("not a server home")
        base = tempfile.gettempdir()
        if len(os.fsencode(base)) + _THROWAWAY_SOCKET_OVERHEAD > _SOCKET_PATH_MAX:
            # Otherwise gpg-agent cannot start and gpg says only "No agent running".
            raise KeyringError(
                f"the temporary directory's path ({len(os.fsencode(base))} bytes) is too "
                "long for gpg-agent's socket in a GnuPG home under it: set TMPDIR to a "
                f"directory of at most {_SOCKET_PATH_MAX - _THROWAWAY_SOCKET_OVERHEAD} bytes"
            )
        home = prepare_home(Path(tempfile.mkdtemp(prefix=_THROWAWAY_PREFIX, dir=base)))
        try:
            yield home
        finally:
            _remove_home(home)

    @staticmethod
    def _clear_stale_throwaways() -> None:
        """Remove what a process that died left of its throwaway homes (one holds a
        passphrase-locked secret key while it lives)."""
        cutoff = time.time() - _STALE_THROWAWAY_SECONDS
        for entry in Path(tempfile.gettempdir()).glob(f"{_THROWAWAY_PREFIX}*"):
            try:
                info = entry.lstat()
            except FileNotFoundError:
                continue
            if entry.is_dir() and info.st_uid == os.getuid() and info.st_mtime < cutoff:
                _remove_home(entry)

    def generate_portable_key(self, name: str, passphrase: str) -> PortableKey:
        """A reply key made in a throwaway home: its public half goes to this home's key
        files, its secret half (still locked with `passphrase`, as gpg exports it) is
        returned to be kept elsewhere (the database); this home never holds it.

        Raises KeyringError (the port's error, vault.ports.PortableReplyKeys)."""
        try:
            spec = batch_key_spec(name, passphrase)
        except KeyOperationError as exc:
            raise KeyringError(str(exc)) from exc
        status = ""
        for attempt in range(_KEYGEN_ATTEMPTS):
            with self._throwaway_home() as home:
                fingerprint, status = generate_key(home, spec, passphrase, binary=self.binary)
                if fingerprint:
                    return self._take_out(home, fingerprint, passphrase)
            time.sleep(0.2 * (attempt + 1))
        raise KeyringError(f"key generation failed: {status}")

    def _take_out(self, home: Path, fingerprint: str, passphrase: str) -> PortableKey:
        handle = gnupg.GPG(gnupghome=str(home), gpgbinary=self.binary)
        handle.encoding = "utf-8"
        public = str(handle.export_keys(fingerprint) or "")
        binary = handle.export_keys(fingerprint, armor=False)
        secret = str(handle.export_keys(fingerprint, secret=True, passphrase=passphrase) or "")
        listed = self._show(bytes(binary)) if binary else []
        if [(key.fingerprint, key.secret) for key in listed] != [(fingerprint, False)]:
            raise KeyringError("the new public key could not be exported")
        if [(k.fingerprint, k.secret) for k in self._show(secret.encode())] != [
            (fingerprint, True)
        ] or "PUBLIC KEY BLOCK" not in public:
            raise KeyringError("the new key could not be exported")
        self._key_files().publish(fingerprint, bytes(binary), listed[0].key_ids)
        return PortableKey(fingerprint=fingerprint, public=public, secret=secret)

    @contextlib.contextmanager
    def borrowed_key(self, fingerprint: str, secret: str) -> Iterator[BorrowedKey]:
        """What opens messages to the portable key `fingerprint` whose exported secret
        half is `secret`: a throwaway home holding it for the `with` block only.

        Raises KeyringError if `secret` is not that key's secret half (and nothing
        else), or gpg does not take it."""
        fingerprint = fingerprint.upper()
        listed = self._show(secret.encode())
        if [(key.fingerprint, key.secret) for key in listed] != [(fingerprint, True)]:
            raise KeyringError("not the secret key asked for")
        with self._throwaway_home() as home:
            done = subprocess.run(  # nosec B603
                [self.binary, "--homedir", str(home), *_BASE_ARGS, "--import"],
                input=secret.encode(),
                capture_output=True,
                check=False,
                timeout=60,
            )
            handle = gnupg.GPG(gnupghome=str(home), gpgbinary=self.binary)
            handle.encoding = "utf-8"
            if done.returncode != 0 or not handle.list_keys(secret=True, keys=[fingerprint]):
                raise KeyringError("the secret key could not be imported")
            yield BorrowedKey(handle)

    # -- streaming --------------------------------------------------------------------
    def seal_stream(self, recipients: Sequence[str], output: Path) -> GpgStream:
        if not recipients:
            raise SealError("no recipient")
        argv = [self.binary, "--homedir", str(self.home), *_BASE_ARGS]
        argv += ["--compress-algo", "none", "--encrypt", "--output", "-"]
        if self._files is not None:
            argv += self._recipient_args(recipients)
        else:
            for fingerprint in recipients:
                argv += ["--recipient", fingerprint]
        return GpgStream(argv, output)

    # -- small data ---------------------------------------------------------------------
    def seal_bytes(self, data: bytes, recipients: Sequence[str]) -> bytes:
        if self._files is not None:
            args = self._recipient_args(recipients)
            done = self._run([*args, "--compress-algo", "none", "--encrypt", "--output", "-"], data)
            if done.returncode != 0 or not done.stdout:
                raise SealError(f"encryption failed: {done.stderr.decode(errors='replace')[:200]}")
            return done.stdout
        result = self._gpg.encrypt(
            data,
            list(recipients),
            armor=False,
            always_trust=True,
            extra_args=["--compress-algo", "none"],
        )
        if not result.ok:
            raise SealError(f"encryption failed: {result.status}")
        return bytes(result.data)

    def open_bytes(
        self, ciphertext: bytes, passphrase: str, *, max_output: int = DEFAULT_MAX_OUTPUT
    ) -> bytes:
        """Decrypt in memory, producing at most `max_output` bytes of plaintext.

        gpg stops writing at the limit (`--max-output`), so neither its work nor our
        memory grows with what a compressed message claims to hold. Raises
        OutputTooLargeError past the limit, DecryptionError for anything else that
        went wrong; a partial plaintext is never returned.
        """
        if max_output < 1:
            raise ValueError("max_output must be positive")
        if self._files is None:
            return self._open_with(self._gpg, ciphertext, passphrase, max_output)
        # A server home: gpg finds the secret key through its public key, given as the
        # key files of the key ids the message names (read without any keyring).
        files = self._files
        named = self._gpg.get_recipients(ciphertext, extra_args=["--no-keyring"])
        paths = list(dict.fromkeys(p for k in named if (p := files.by_key_id(str(k)))))
        with self._reading(paths) as handle:
            if handle is None:
                raise DecryptionError("decryption failed: no key of this home opens it")
            return self._open_with(handle, ciphertext, passphrase, max_output)

    @staticmethod
    def _open_with(handle: gnupg.GPG, ciphertext: bytes, passphrase: str, max_output: int) -> bytes:
        result = handle.decrypt(
            ciphertext,
            passphrase=passphrase,
            always_trust=True,
            extra_args=["--max-output", str(max_output)],
        )
        # gpg says DECRYPTION_OKAY even after --max-output stopped it: its exit status
        # and its own message tell.
        if _MAX_OUTPUT_MARK in (result.stderr or "") or len(result.data) > max_output:
            raise OutputTooLargeError("plaintext over the limit")
        if not result.ok or result.returncode != 0:
            raise DecryptionError(f"decryption failed: {result.status}")
        return bytes(result.data)

    # -- keys ---------------------------------------------------------------------------
    def generate_reply_key(self, name: str, passphrase: str) -> str:
        """An ed25519/cv25519 keypair, its secret half locked with `passphrase`.

        In a server home the public half goes to a keyring of this call's own, then to
        its key file: making a key never rewrites a keyring another request reads.

        Key generation happens in gpg-agent; on a loaded machine the agent may be slow to
        come up or be restarting, so a failed attempt is retried after (re)launching it.
        """
        try:
            spec = batch_key_spec(name, passphrase)
        except KeyOperationError as exc:  # the port's error (vault.ports.ReplyKeys)
            raise KeyringError(str(exc)) from exc
        status = ""
        for attempt in range(_KEYGEN_ATTEMPTS):
            if self._files is None:
                fingerprint, status = generate_key(self.home, spec, passphrase, binary=self.binary)
            else:
                fingerprint, status = self._generate_into_file(spec, passphrase)
            if fingerprint:
                return str(fingerprint)
            launch_agent(self.home)
            time.sleep(0.2 * (attempt + 1))
        raise KeyringError(f"key generation failed: {status}")

    def _generate_into_file(self, spec: str, passphrase: str) -> tuple[str | None, str]:
        files = self._key_files()
        private = Path(tempfile.mkdtemp(dir=self._scratch))
        try:
            handle = copy.copy(self._gpg)
            handle.keyring = [str(private / "new.kbx")]
            fingerprint, status = generate_key(
                self.home, spec, passphrase, binary=self.binary, keyring=private / "new.kbx"
            )
            if not fingerprint:
                return None, status
            data = handle.export_keys(fingerprint, armor=False)
            listed = self._show(bytes(data)) if data else []
            if [key.fingerprint for key in listed] != [fingerprint]:
                return None, "the new public key could not be exported"
            files.publish(fingerprint, bytes(data), listed[0].key_ids)
            return fingerprint, ""
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def delete_key(self, fingerprint: str) -> None:
        """Remove both halves of a key; missing keys are not an error (idempotent)."""
        if not fingerprint.strip():
            raise KeyringError("no key named: nothing deleted")
        (self.home / "openpgp-revocs.d" / f"{fingerprint}.rev").unlink(missing_ok=True)
        if self._files is not None:
            self._delete_key_file(fingerprint)
            if not any((self.home / n).exists() for n in ("pubring.kbx", "pubring.gpg")):
                return
            with self._writing_keyring():
                self._delete_from(self._gpg, fingerprint)
            return
        self._delete_from(self._gpg, fingerprint)

    def _delete_key_file(self, fingerprint: str) -> None:
        files = self._key_files()
        path = files.get(fingerprint)
        if path is None:
            return
        ids = [k for key in self._show(path.read_bytes()) for k in key.key_ids]
        with self._reading([path]) as handle:
            if handle is not None and handle.list_keys(secret=True, keys=[fingerprint]):
                handle.delete_keys(fingerprint, secret=True, expect_passphrase=False)
                if handle.list_keys(secret=True, keys=[fingerprint]):
                    raise KeyringError("could not delete key: its secret half is left")
        files.remove(fingerprint, ids)

    @staticmethod
    def _delete_from(handle: gnupg.GPG, fingerprint: str) -> None:
        if handle.list_keys(secret=True, keys=[fingerprint]):
            handle.delete_keys(fingerprint, secret=True, expect_passphrase=False)
        if handle.list_keys(keys=[fingerprint]):
            result = handle.delete_keys(fingerprint)
            if str(result) != "ok":
                raise KeyringError(f"could not delete key: {result}")

    def holding(self, fingerprints: Iterable[str]) -> set[str]:
        """Those of `fingerprints` this home holds any part of: a key file (a server
        home), or an entry of its own keyring (one listing for all)."""
        wanted = {fp.upper() for fp in fingerprints if fp}
        if not wanted:
            return set()
        held = set()
        if self._files is not None:
            held = {fp for fp in wanted if self._files.get(fp) is not None}
        if wanted - held and any((self.home / n).exists() for n in ("pubring.kbx", "pubring.gpg")):
            listed = {str(key["fingerprint"]).upper() for key in self._gpg.list_keys()}
            listed |= {str(key["fingerprint"]).upper() for key in self._gpg.list_keys(secret=True)}
            held |= wanted & listed
        return held

    def named(self, name: str, *, older_than: float = 0.0) -> set[str]:
        """The fingerprints of the keys this home holds whose one user id is `name`
        (its key files last changed more than `older_than` seconds ago, and its own
        keyring's)."""
        found = set()
        if self._files is not None:
            cutoff = time.time() - older_than
            paths = []
            for fingerprint in self._files.fingerprints():
                path = self._files.get(fingerprint)
                try:
                    if path is not None and path.stat().st_mtime <= cutoff:
                        paths.append(path)
                except FileNotFoundError:
                    continue
            for start in range(0, len(paths), 500):  # one gpg per 500 files
                done = self._run(
                    [
                        "--no-keyring",
                        "--with-colons",
                        "--show-keys",
                        *map(str, paths[start : start + 500]),
                    ]
                )
                found |= _named_in(done.stdout.decode(errors="replace"), name)
        if any((self.home / n).exists() for n in ("pubring.kbx", "pubring.gpg")):
            for key in self._gpg.list_keys():
                if [str(uid) for uid in key.get("uids", [])] == [name]:
                    found.add(str(key["fingerprint"]).upper())
        return found

    def has_public_key(self, fingerprint: str) -> bool:
        if self._files is not None:
            return self._files.get(fingerprint) is not None
        return bool(self._gpg.list_keys(keys=[fingerprint]))

    def has_secret_key(self, fingerprint: str) -> bool:
        if self._files is not None:
            path = self._files.get(fingerprint)
            with self._reading([path] if path else []) as handle:
                return handle is not None and bool(
                    handle.list_keys(secret=True, keys=[fingerprint])
                )
        return bool(self._gpg.list_keys(secret=True, keys=[fingerprint]))

    def key_ids(self, fingerprint: str) -> set[str]:
        """The long key ids of a key and its subkeys: what an OpenPGP message encrypted
        to it names in its session key packets (the encryption subkey's id)."""
        if self._files is not None:
            path = self._key_file(fingerprint)
            if path is None:
                return set()
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                return set()
            return {k for key in self._show(data) for k in key.key_ids}
        ids: set[str] = set()
        for key in self._gpg.list_keys(keys=[fingerprint]):
            ids.add(str(key["keyid"]).upper())
            for sub in key.get("subkeys", []):
                ids.add(str(sub[0]).upper())
        return ids

    def recipients_of(self, armored: str) -> set[str]:
        """The long key ids (upper case) an armored OpenPGP message is encrypted to."""
        named = self._gpg.get_recipients(armored, extra_args=["--no-keyring"])
        return {str(key_id).upper() for key_id in named}

    def import_keys(self, armored: str | bytes) -> list[str]:
        if self._files is None:
            result = self._gpg.import_keys(armored)
        else:
            with self._writing_keyring():
                result = self._gpg.import_keys(armored)
                for fingerprint in {fp.upper() for fp in result.fingerprints if fp}:
                    data = self._gpg.export_keys(fingerprint, armor=False)
                    listed = self._show(bytes(data)) if data else []
                    if [key.fingerprint for key in listed] == [fingerprint]:
                        self._files.publish(fingerprint, bytes(data), listed[0].key_ids)
        fingerprints = [fp for fp in result.fingerprints if fp]
        if not fingerprints:
            raise KeyOperationError("no key imported")
        return sorted(set(fingerprints))

    def export_public(self, fingerprint: str) -> str:
        if self._files is not None:
            path = self._key_file(fingerprint)
            with self._reading([path] if path else []) as handle:
                armored = handle.export_keys(fingerprint) if handle is not None else ""
        else:
            armored = self._gpg.export_keys(fingerprint)
        if not armored:
            raise KeyringError("no such public key")
        return str(armored)

    def export_secret(self, fingerprint: str, passphrase: str) -> str:
        if self._files is not None:
            path = self._files.get(fingerprint)
            with self._reading([path] if path else []) as handle:
                armored = (
                    handle.export_keys(fingerprint, secret=True, passphrase=passphrase)
                    if handle is not None
                    else ""
                )
        else:
            armored = self._gpg.export_keys(fingerprint, secret=True, passphrase=passphrase)
        if not armored or "PRIVATE KEY BLOCK" not in str(armored):
            raise KeyringError("could not export secret key")  # the port's error
        return str(armored)

    def decrypt_file(self, path: Path, passphrase: str | None, output: Path) -> None:
        with open(path, "rb") as handle:
            result = self._gpg.decrypt_file(
                handle, passphrase=passphrase, always_trust=True, output=str(output)
            )
        if not result.ok:
            output.unlink(missing_ok=True)
            raise DecryptionError(f"decryption failed: {result.status}")

    @property
    def gpg(self) -> gnupg.GPG:
        return self._gpg


class BorrowedKey:
    """Opens messages with the one secret key of a throwaway home (`borrowed_key`)."""

    def __init__(self, handle: gnupg.GPG) -> None:
        self._handle = handle

    def open_bytes(
        self, ciphertext: bytes, passphrase: str, *, max_output: int = DEFAULT_MAX_OUTPUT
    ) -> bytes:
        if max_output < 1:
            raise ValueError("max_output must be positive")
        return GpgKeyring._open_with(self._handle, ciphertext, passphrase, max_output)


def _remove_home(home: Path) -> None:
    """Stop a home's agent, overwrite its secret key files, remove the rest."""
    kill_agent(home)
    private = home / "private-keys-v1.d"
    for path in sorted(private.glob("*")) if private.is_dir() else []:
        if path.is_file() and not path.is_symlink():
            shred_file(path)
    shutil.rmtree(home, ignore_errors=True)
