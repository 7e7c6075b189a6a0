"""What one evaluation produced, gathered before it is written in one transaction and then delivered.

The rows are the store's own (edge.store): outbox messages, alert history, ticket and recommendation records; the
live-stream events go to the web UI after the write. This module must not write or send anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.store import AlertChange, OutboxMessage, Record


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """An event for the live stream (SSE): its name (alert, ticket, recommendation) and its JSON body."""

    event: str
    body: dict[str, object]


@dataclass(slots=True)
class Batch:
    """What one evaluation produced, written in one transaction and then delivered."""

    outbox: list[OutboxMessage] = field(default_factory=list)
    history: list[AlertChange] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    live: list[LiveEvent] = field(default_factory=list)
