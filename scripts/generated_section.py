"""Rewriting (or checking) the generated part of a document, between its BEGIN and END markers."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def update(doc: Path, begin: str, end: str, render: Callable[[], str], script: str) -> int:
    """With --check on the command line: exit 1 if the section is stale; else rewrite it."""
    text = doc.read_text(encoding="utf-8")
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    new = head + render() + tail
    if "--check" in sys.argv:
        if new != text:
            print(f"{doc.name} is stale: run {script}", file=sys.stderr)
            return 1
        return 0
    doc.write_text(new, encoding="utf-8")
    return 0
