"""What the product imports is what pyproject.toml declares for it, both ways.

A module imported at run time but declared only in the test extra works in CI (which installs that extra) and crashes
a newcomer's `pip install .` — it happened with httpx. This reads every import statement of the packages (top level and
inside functions), maps it to the distribution that provides it, and compares with `[project].dependencies`.
tests/integration/test_first_run.py proves the same on a real fresh virtualenv.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("edge", "devices", "rules", "vision", "cloud_sync")

# Extras the product imports only inside a function, when the user asked for that feature, with a message saying
# which extra to install when it is missing (module → extra; each module is its distribution's name). They need not
# be installed here.
OPTIONAL = {"amqtt": "embedded-broker", "ultralytics": "ultralytics"}
# Declared but never imported by our code, each for a reason written beside it in pyproject.toml (none since the
# cloud tier imports influxdb-client).
DECLARED_NOT_IMPORTED: set[str] = set()


def _name(requirement: str) -> str:
    """`uvicorn[standard]==0.54.0` → `uvicorn` (normalised as PyPI does)."""
    bare = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", bare).lower()


def _pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def imports() -> dict[str, list[tuple[str, bool]]]:
    """Top-level module → [(file:line, at module level?)] for every import of something outside our packages."""
    found: dict[str, list[tuple[str, bool]]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            top_level = {id(node) for node in tree.body}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    root = name.split(".")[0]
                    if root in sys.stdlib_module_names or root in PACKAGES or root == "__future__":
                        continue
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.setdefault(root, []).append((where, id(node) in top_level))
    return found


@functools.cache
def _providers() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distribution(module: str) -> str:
    """The distribution that provides an installed module; an optional extra's module is its own name."""
    dists = _providers().get(module)
    if not dists and module in OPTIONAL:
        return module
    assert dists, f"no installed distribution provides the module {module!r}"
    return _name(dists[0])


def test_every_module_the_product_imports_is_a_declared_runtime_dependency() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    runtime = {_name(r) for r in project["dependencies"]}
    extras = {extra: {_name(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()}
    undeclared = []
    for module, places in sorted(imports().items()):
        dist = distribution(module)
        if dist in runtime:
            continue
        extra = OPTIONAL.get(module)
        if extra is not None and dist in extras[extra]:
            eager = [where for where, top in places if top]
            assert not eager, f"{dist} (the {extra} extra) is imported at module level: {eager}"
            continue
        undeclared.append(f"{module} ({dist}) at {', '.join(w for w, _ in places)}")
    assert not undeclared, "imported at run time but not in [project].dependencies: " + "; ".join(undeclared)


def test_every_declared_runtime_dependency_is_used() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    runtime = {_name(r) for r in project["dependencies"]}
    imported = {distribution(module) for module in imports()}
    unused = runtime - imported - DECLARED_NOT_IMPORTED
    assert not unused, f"declared but never imported (say why in pyproject.toml and here, or drop it): {sorted(unused)}"
    # and the exceptions are real: each is still declared, and still not imported (else it belongs in the rule above)
    assert runtime >= DECLARED_NOT_IMPORTED
    assert not (imported & DECLARED_NOT_IMPORTED)


def test_the_import_scan_sees_imports_inside_functions() -> None:
    """The scan must find a function-level import (httpx was imported at module level; amqtt is in a function)."""
    places = dict(imports())
    assert any(not top for _, top in places["amqtt"])
    assert any(top for _, top in places["httpx"])


def test_every_file_of_the_packages_that_is_not_python_is_package_data() -> None:
    """A file left out of the wheel works from a checkout and fails after `pip install .` (the rule pack did)."""
    tool = _pyproject()["tool"]
    assert isinstance(tool, dict)
    patterns: dict[str, list[str]] = tool["setuptools"]["package-data"]
    missing = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            covered = False
            for owner, globs in patterns.items():
                base = ROOT.joinpath(*owner.split("."))
                if path.is_relative_to(base):
                    covered |= any(path.relative_to(base).match(g) for g in globs)
            if not covered:
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"not in [tool.setuptools.package-data], so not installed by pip install .: {missing}"
