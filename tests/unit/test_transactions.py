"""The caller owns the transaction: no service module calls `commit()`.

A request commits when it answers below 400 (web_shared.context), a command or a job in
one `vault.transaction.unit_of_work`. A service that commits would commit its caller's
unfinished work with its own, and make a failure after it leave half a change behind.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "vault" / "services"

# (module, enclosing function) -> why it must commit itself. Empty: none needs to; what
# must outlive a failure goes through vault.transaction (hooks, refusals, savepoints).
ALLOWED: dict[tuple[str, str], str] = {}


def _commits(path: Path) -> list[tuple[str, str, int]]:
    """Every `<anything>.commit()` call in `path`: (module, function, line)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "commit"
            ):
                found.append((path.stem, function, child.lineno))
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_no_service_commits_outside_the_allow_list() -> None:
    modules = sorted(SERVICES.glob("*.py"))
    assert len(modules) > 30  # the scan sees the services, not an empty directory
    unexpected = [
        f"vault/services/{module}.py:{line} in {function}()"
        for path in modules
        for module, function, line in _commits(path)
        if (module, function) not in ALLOWED
    ]
    assert unexpected == [], "services must not commit; the caller does: " + ", ".join(unexpected)


def test_the_scan_finds_a_commit(tmp_path: Path) -> None:
    """The scanner itself: a commit nested in a function, and one in a method, are found."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def save(db):\n"
        "    if db:\n"
        "        db.commit()\n"
        "class Repo:\n"
        "    def keep(self):\n"
        "        self.session.commit()\n",
        encoding="utf-8",
    )
    assert _commits(sample) == [("sample", "save", 3), ("sample", "keep", 6)]
