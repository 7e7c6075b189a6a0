"""The operator's documents stay true to the code: every message docs/troubleshooting.md quotes is still one the code
can print, every rule of the built-in pack has its line in docs/operator.md's alert table (and the table is current),
and the documents link each other where a reader looks."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SOURCES = ("edge", "devices", "rules", "vision", "cloud_sync")
WORDS = ROOT / "edge" / "web" / "i18n.js"  # what the web UI says (its banners), in both languages
PLACEHOLDER = "\x00"  # where an f-string puts a value


@cache
def _literals() -> tuple[str, ...]:
    """Every string the product's code holds, implicit concatenations joined and f-string values as PLACEHOLDER, and
    the web UI's words (`{name}` values as PLACEHOLDER)."""
    found: list[str] = []
    for package in SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.JoinedStr):
                    found.append(
                        "".join(v.value if isinstance(v, ast.Constant) else PLACEHOLDER for v in node.values)  # type: ignore[misc]
                    )
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.append(node.value)
    for text in re.findall(r'"((?:[^"\\]|\\.)*)"', WORDS.read_text(encoding="utf-8")):  # `{for}`: a value
        found.append(re.sub(r"\{\w+\}", PLACEHOLDER, text))
    return tuple(found)


def _quoted(doc: Path) -> list[str]:
    """The messages a document quotes: `…` after "**Message**:" or "**Message** (where): " on a line, and the first
    quoted text of each row of a table whose header says **Message**."""
    quoted, in_table = [], False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("|") and in_table:
            cell = line.split("|")[1]
            if (m := re.search(r"`([^`]+)`", cell)) and not set(cell.strip()) <= {"-"}:
                quoted.append(m.group(1))
            continue
        in_table = line.startswith("|") and "**Message**" in line
        if not in_table and (m := re.search(r"\*\*Message\*\*(?: \((?:[^()]|\([^)]*\))*\))?: `([^`]+)`", line)):
            quoted.append(m.group(1))
    return quoted


def _in_code(message: str) -> bool:
    """Some string of the code holds the message's fixed parts in order (… stands for what changes)."""
    parts = [p for p in message.split("…") if p.strip()]
    pattern = re.compile(".*?".join(re.escape(p) for p in parts), re.DOTALL)
    return any(pattern.search(literal) for literal in _literals())


def test_troubleshooting_quotes_messages_the_code_prints() -> None:
    quoted = _quoted(DOCS / "troubleshooting.md")
    assert len(quoted) >= 20, quoted  # the page is made of them
    assert [q for q in quoted if not _in_code(q)] == []


@pytest.mark.parametrize(
    "changed",
    [
        "broker unreachable at …: …; retrying in … minutes",  # a word the code does not say
        "is damaged: SQLite's integrity_check found …",  # another check's name
        "records wait for the cloud, the newest for … min",
    ],
)
def test_a_message_the_code_no_longer_prints_is_caught(changed: str) -> None:
    assert not _in_code(changed)


def _alert_guide() -> object:
    spec = importlib.util.spec_from_file_location("alert_guide", ROOT / "scripts" / "alert_guide.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_alert_table_is_current_and_complete() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/alert_guide.py", "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    from rules.language import builtin_rules  # noqa: PLC0415

    table = (DOCS / "operator.md").read_text(encoding="utf-8")
    for rule in builtin_rules().rules:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{rule.id}`"))
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert rule.title is not None and rule.title.zh in cells[1], rule.id
        assert all(cells), f"{rule.id}: an empty cell in {row}"


def test_a_rule_without_guidance_is_named() -> None:
    guide = _alert_guide()
    entries = guide.GUIDE  # type: ignore[attr-defined]
    kept = entries.pop("wait-60")
    entries["no-such-rule"] = ("meaning", "action")
    try:
        problems = guide.problems()  # type: ignore[attr-defined]
    finally:
        entries["wait-60"] = kept
        del entries["no-such-rule"]
    assert any("'wait-60'" in p and "no guidance" in p for p in problems), problems
    assert any("'no-such-rule'" in p for p in problems), problems


def _links(doc: Path) -> set[str]:
    return set(re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")))


@pytest.mark.parametrize("doc", ["install.md", "operator.md", "troubleshooting.md"])
def test_the_operator_docs_are_linked_and_link_to_files_that_exist(doc: str) -> None:
    assert f"docs/{doc}" in _links(ROOT / "README.md")
    assert doc in _links(DOCS / "deploy.md")
    for target in _links(DOCS / doc):
        if "://" not in target:
            assert (DOCS / target).exists(), f"{doc} links to {target}, which does not exist"
