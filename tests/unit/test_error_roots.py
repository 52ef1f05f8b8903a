"""An error root per package: the domain's VaultError, keys' KeysError, onion's
OnionError, the workstation's WorkstationError, federation's FederationError. No error
a package defines is the domain's: a handler of VaultError catches domain errors only
(and the errors a port documents, which are the domain's own, raised by the adapters)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from federation.errors import FederationError
from keys.errors import KeyOperationError, KeysError
from onion.errors import OnionError, TorConfigError
from vault.errors import (
    ChainError,
    ConfigError,
    DecryptionError,
    KeyringError,
    OutputTooLargeError,
    SealError,
    VaultError,
)
from workstation.errors import WorkstationError

ROOTS = {
    "keys": KeysError,
    "onion": OnionError,
    "workstation": WorkstationError,
    "federation": FederationError,
}


def _defined_errors(package: str) -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    root = importlib.import_module(package)
    names = [package] + [
        info.name for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
    ]
    for name in names:
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == name:
                found.append(value)
    return found


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_no_error_of_the_package_is_a_domain_error(package: str) -> None:
    assert not issubclass(ROOTS[package], VaultError)
    errors = _defined_errors(package)
    assert ROOTS[package] in errors  # the walk saw the package's own errors module
    assert [e.__name__ for e in errors if issubclass(e, VaultError)] == []


def test_the_roots_are_apart() -> None:
    for name, root in ROOTS.items():
        for other_name, other in ROOTS.items():
            assert name == other_name or not issubclass(root, other)
    assert issubclass(KeyOperationError, KeysError)
    assert issubclass(TorConfigError, OnionError)
    assert not issubclass(TorConfigError, ConfigError)


def test_the_errors_ports_document_are_the_domains() -> None:
    import keys.errors
    import keys.receipts

    for error in (SealError, DecryptionError, OutputTooLargeError, KeyringError, ChainError):
        assert issubclass(error, VaultError)
        assert not issubclass(error, KeysError)
    # keys names them for its own callers: the same classes, not look-alikes.
    assert keys.errors.DecryptionError is DecryptionError
    assert keys.errors.OutputTooLargeError is OutputTooLargeError
    assert keys.errors.KeyringError is KeyringError
    assert keys.receipts.ChainError is ChainError
