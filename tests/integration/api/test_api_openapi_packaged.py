"""The OpenAPI description ships inside the package: a wheel built from this tree holds
journalist_app/api/openapi.yaml, and the API installed from that wheel, with no checkout
(and no docs/ folder) beside it, serves it. No shipped module names a path under docs/."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import yaml

from journalist_app.api.v1 import OPENAPI
from tests.support.product import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGES = [p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]

SERVE = """
import json, sys
from flask import Flask
import journalist_app.api.v1 as v1
app = Flask("installed")
app.register_blueprint(v1.bp)
response = app.test_client().get("/api/v1/openapi.json")
print(json.dumps({"file": v1.__file__, "status": response.status_code,
                  "body": response.get_json()}))
"""


def test_the_wheel_holds_the_description_and_serves_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy2(REPO / "pyproject.toml", src)
    for package in PACKAGES:
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "out"),
         str(src)],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "out").glob("*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "journalist_app/api/openapi.yaml" in names
        assert not [n for n in names if n.startswith("docs/")]
        assert archive.read("journalist_app/api/openapi.yaml") == OPENAPI.read_bytes()
        archive.extractall(site)

    # `-c` puts the working directory first on the path: the installed copy is imported,
    # not this checkout (asserted below), and there is no docs/ folder anywhere near it.
    served = subprocess.run(
        [sys.executable, "-c", SERVE],
        cwd=site, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert served.returncode == 0, served.stderr
    result = json.loads(served.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).is_relative_to(site)
    assert not (site / "docs").exists() and not (site.parent / "docs").exists()
    assert result["status"] == 200
    assert result["body"] == yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))


def test_no_shipped_module_opens_a_path_under_docs() -> None:
    """docs/ is the repository's, never installed: code that names a path in it works
    only from a checkout. (Comments and prose may cite docs/*.md; path strings may not.)"""
    named = []
    for package in PACKAGES:
        for module in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and " " not in node.value
                    and re.search(r"(^|/)docs(/|$)", node.value)
                ):
                    named.append(f"{module.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert named == []
