"""The saved format of the ticket book: `TicketBook.dump`/`load` as JSON-able data, through a pydantic `TypeAdapter`
over the book's own frozen dataclasses, with the schema number and the upgrade from the format before.

Owns `SCHEMA_VERSION`, `BookState`, `dump_book`/`load_book` and reading format 1. A store saved by an earlier
release must still open (tests/system/test_saved_state.py, tests/data/saved_state/tickets-v1.json), so the format
changes only with a new `SCHEMA_VERSION` and an upgrade from the old one. Must not decide anything: it copies
tickets.

Format 2 (issue 15): `{"schema": 2, "counter": [day, n], "tickets": [...]}`, each ticket its `Ticket` fields, a
history entry an object (`at`, `status`, `by`, `note`). Format 1 (`{"version": 1, ...}`) wrote each history entry
as a list `[at, status, by, note]`; everything else has the same shape. A field added to `Ticket` with a default
keeps the format: a dump without it loads as the default says, or as `_filled` fills it in (issue 19: `faults`, the
alerts behind a ticket; one saved before had just the one that opened it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import TypeAdapter

from rules.tickets.model import Fault, Ticket

SCHEMA_VERSION = 2  # 1: history entries as lists, under "version" (read and upgraded)
_HISTORY_V1 = ("at", "status", "by", "note")


@dataclass(frozen=True, slots=True, kw_only=True)
class BookState:
    """A `TicketBook` as saved."""

    schema: int = SCHEMA_VERSION
    counter: tuple[str, int]  # (local date, last number issued that day)
    tickets: tuple[Ticket, ...]


_BOOK = TypeAdapter(BookState)


def dump_book(state: BookState) -> dict[str, object]:
    """The state as JSON-able data (times in ISO 8601 with their offset)."""
    body: dict[str, object] = _BOOK.dump_python(state, mode="json")
    return body


def load_book(body: Mapping[str, object]) -> BookState:
    """What `dump_book` wrote, of this format or format 1."""
    if body.get("version") == 1 and "schema" not in body:
        return _filled(_BOOK.validate_python(_from_v1(body)))
    if body.get("schema") != SCHEMA_VERSION:
        found = body.get("schema", body.get("version"))
        raise ValueError(f"ticket book schema {found!r} is not {SCHEMA_VERSION} (or version 1, which is upgraded)")
    return _filled(_BOOK.validate_python(body))


def _filled(state: BookState) -> BookState:
    """A ticket saved before issue 19 has no `faults`: its one alert, the one that opened it, becomes them."""
    tickets = tuple(
        t if t.faults else replace(t, faults=(Fault(t.rule_id, t.alert_fingerprint, t.opened_at, t.alert_active),))
        for t in state.tickets
    )
    return replace(state, tickets=tickets)


def _from_v1(body: Mapping[str, object]) -> dict[str, Any]:
    """Format 1 → 2: each history entry `[at, status, by, note]` becomes an object."""
    counter, tickets = body.get("counter"), body.get("tickets")
    if not isinstance(counter, list) or not isinstance(tickets, list):
        raise ValueError("a ticket book dump has 'counter' and 'tickets' lists")
    return {
        "schema": SCHEMA_VERSION,
        "counter": counter,
        "tickets": [_ticket_from_v1(raw) for raw in tickets],
    }


def _ticket_from_v1(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError("a dumped ticket is a mapping")
    return {**raw, "history": [dict(zip(_HISTORY_V1, entry, strict=True)) for entry in raw.get("history", [])]}
