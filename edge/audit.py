"""The audit log: who changed what, appended as a hash chain so that an edited or deleted row is detected.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own fields (canonical JSON), so changing
any field of any row, deleting a row from the middle, or reordering rows breaks the chain from there on. Deleting
rows from the end leaves a shorter valid chain; the store therefore keeps the head (count and last hash) in its meta
table, written in the same transaction, and `verify` compares them. Someone who rewrites the whole chain *and* the
head is caught only by a copy of the head kept elsewhere: the signed anchors of edge/anchor.py (docs/audit.md).

Pure: entries in, problems out; the store reads and writes the rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Entry:
    """One change, as the actor made it. `at` is wall-clock time (UNIX seconds): accountability is in real time,
    whatever the hall clock does in a replay."""

    at: float
    actor: str  # user name, or "system" / "cli:<os user>" for changes not made through the API
    action: str  # alert.acknowledge, silence.create, ticket.resolve, recommendation.approve, user.add, …
    subject: str  # what it was done to: a fingerprint, ticket id, recommendation id, user name
    detail: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    entry: Entry
    prev: str
    hash: str


def entry_hash(prev: str, row_id: int, entry: Entry) -> str:
    body = json.dumps(
        [row_id, round(entry.at, 6), entry.actor, entry.action, entry.subject, entry.detail],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def chain(prev: str, first_id: int, entries: Iterable[Entry]) -> list[Row]:
    """The rows for `entries` appended after a head `prev` whose next id is `first_id`."""
    rows = []
    for i, entry in enumerate(entries):
        h = entry_hash(prev, first_id + i, entry)
        rows.append(Row(first_id + i, entry, prev, h))
        prev = h
    return rows


@dataclass(frozen=True, slots=True)
class Finding:
    row_id: int | None  # None: about the chain as a whole (its head)
    problem: str

    def __str__(self) -> str:
        return f"row {self.row_id}: {self.problem}" if self.row_id is not None else self.problem


def verify(rows: Iterable[Row], head: tuple[int, str] | None) -> list[Finding]:
    """Every break in the chain, in row order. `head` is the (count, last hash) the store recorded; None = unknown.

    A row whose stored hash does not match its content was edited; a row whose `prev` is not the hash before it
    follows a deleted (or inserted, or moved) row; a gap in the ids is a deletion; a head that does not match the
    last row means rows were deleted from the end (or the head was edited)."""
    findings: list[Finding] = []
    prev, expected_id, count, last = GENESIS, 1, 0, GENESIS
    for row in rows:
        count += 1
        if row.id != expected_id:
            gap = f"row {expected_id} is" if row.id == expected_id + 1 else f"rows {expected_id}–{row.id - 1} are"
            findings.append(Finding(row.id, f"{gap} missing (deleted)"))
        if row.prev != prev:
            findings.append(Finding(row.id, "does not follow the row before it (a row was deleted, added or moved)"))
        if entry_hash(row.prev, row.id, row.entry) != row.hash:
            findings.append(Finding(row.id, "its content does not match its hash (edited)"))
        prev, expected_id, last = row.hash, row.id + 1, row.hash
    if head is not None and head[0] != count:
        deleted = f"the log has {count} rows but {head[0]} were recorded: rows at the end were deleted"
        findings.append(Finding(None, f"{deleted}, or the recorded head was changed"))
    elif head is not None and head[1] != last:
        findings.append(Finding(None, "the last row is not the one recorded as the head (edited or replaced)"))
    return findings
