"""The domain's layering, read from the code: vault/ imports none of its adapters
(keys, onion, workstation), none of the entry points (backupctl, the apps, the
composition root that wires them) and never Flask. It reaches keys through
vault.ports only; the composition root hands it the adapters."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_VAULT = frozenset(
    {
        "keys",
        "onion",
        "federation",
        "workstation",
        "backupctl",
        "composition",
        "flask",
        "source_app",
        "journalist_app",
        "web_shared",
    }
)
DYNAMIC_IMPORTS = frozenset({"import_module", "__import__"})


def imported_modules(source: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every import, at any depth (functions, TYPE_CHECKING blocks),
    and for import_module("...") / __import__("...") with a literal name."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in DYNAMIC_IMPORTS and isinstance(first, ast.Constant):
                if isinstance(first.value, str):
                    yield node.lineno, first.value


def violations(source: str, forbidden: frozenset[str]) -> list[str]:
    return [
        f"line {line}: {module}"
        for line, module in imported_modules(source)
        if module.split(".", 1)[0] in forbidden
    ]


def test_the_checker_sees_every_form_of_import() -> None:
    source = (
        "import keys.gpg\n"
        "from onion import tor\n"
        "def f():\n"
        "    from composition.runtime import Runtime\n"
        "if TYPE_CHECKING:\n"
        "    from flask import g\n"
        "importlib.import_module('workstation.bundle')\n"
        "__import__('backupctl')\n"
        "from vault.ports import Keyring\n"
        "from . import store\n"
        "import keysmith\n"
    )
    assert violations(source, FORBIDDEN_IN_VAULT) == [
        "line 1: keys.gpg",
        "line 2: onion",
        "line 4: composition.runtime",
        "line 6: flask",
        "line 7: workstation.bundle",
        "line 8: backupctl",
    ]


def test_vault_imports_none_of_its_adapters_nor_entry_points() -> None:
    files = sorted((ROOT / "vault").rglob("*.py"))
    assert len(files) > 50  # the whole package was read, not an empty glob
    found = {
        str(path.relative_to(ROOT)): bad
        for path in files
        if (bad := violations(path.read_text(encoding="utf-8"), FORBIDDEN_IN_VAULT))
    }
    assert found == {}
