"""The public surface of `devices` and `rules`: what the other packages may use of them.

Each of the two packages names its public modules in its `__init__`'s `__all__`; each public module names its public
names in its own `__all__`. `edge`, `vision` and `cloud_sync` (and `rules`, of `devices`) import only those names of
those modules, so anything else — a private helper, a module inside a sub-package — can be renamed, moved or split
without touching another package. httpx guards its exports the same way (tests/test_exported_members.py).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("devices", "rules")  # the packages others build on
USERS = {"devices": ("rules", "vision", "cloud_sync", "edge"), "rules": ("cloud_sync", "edge")}


def public_modules(package: str) -> list[str]:
    return [f"{package}.{name}" for name in importlib.import_module(package).__all__]


def cross_imports(library: str) -> list[tuple[str, str, str]]:
    """(file:line, module, name) of every `from <library>… import name` in the packages that use the library; the
    name is "" for `import <library>.<module>`, and `from <library> import <module>` counts as that."""
    found = []
    for user in USERS[library]:
        for path in sorted((ROOT / user).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    if node.module.split(".")[0] == library:
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        for alias in node.names:
                            if node.module == library:  # from devices import cli
                                found.append((where, f"{library}.{alias.name}", ""))
                            else:
                                found.append((where, node.module, alias.name))
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.split(".")[0] == library:
                            found.append((f"{path.relative_to(ROOT)}:{node.lineno}", alias.name, ""))
    return found


def defined_here(module: ModuleType) -> set[str]:
    """The public classes and functions a module (or, for a package, its sub-modules) defines."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and (value.__module__ == module.__name__ or value.__module__.startswith(module.__name__ + "."))
    }


@pytest.mark.parametrize("package", LIBRARIES)
def test_each_package_names_its_public_modules_and_each_of_them_its_public_names(package: str) -> None:
    for name in public_modules(package):
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{name} is public: it must list its public names in __all__"
        missing = [n for n in exported if not hasattr(module, n)]
        assert missing == [], f"{name}.__all__ names what it does not have: {missing}"
        unlisted = sorted(defined_here(module) - set(exported))
        assert unlisted == [], f"{name} defines public {unlisted} but does not list them in __all__ (or _name them)"


@pytest.mark.parametrize("library", LIBRARIES)
def test_other_packages_use_only_the_public_surface(library: str) -> None:
    public = set(public_modules(library))
    wrong = []
    for where, module, name in cross_imports(library):
        if module not in public:
            wrong.append(f"{where}: {module} is not a public module of {library} ({library}.__all__)")
        elif name and name not in importlib.import_module(module).__all__:
            wrong.append(f"{where}: {module}.{name} is not in {module}.__all__")
    assert wrong == [], "\n".join(wrong)
