"""The saved format of the rule engine (`RuleEngine.dump()`/`load()`): its open alerts with every clock, and the
silences, as a JSON document through a pydantic `TypeAdapter` over the dataclasses, with the schema number.

Owns `SCHEMA_VERSION`, `EngineState`, `dump_state`/`load_state` and reading format 1. A store saved by an earlier
release must still open (tests/system/test_saved_state.py, tests/unit/rules/test_engine_saved.py), so the format
changes only with a new number and a reader for the one before. Must not decide anything: it copies alerts and
silences.

Format 2 (issue 15) is format 1 with its number (`"schema": 2`); format 1 had none and is read as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import TypeAdapter

from rules.alerts import Alert
from rules.notify import Silence

SCHEMA_VERSION = 2  # 1: the same document without its number (read as it is)


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineState:
    """A `RuleEngine` as saved: the alerts not yet resolved, and the silences."""

    schema: int = SCHEMA_VERSION
    alerts: tuple[Alert, ...] = ()
    silences: tuple[Silence, ...] = ()


_STATE = TypeAdapter(EngineState)


def dump_state(state: EngineState) -> dict[str, object]:
    """The state as a JSON document; a number of the evidence that is not finite is saved as null."""
    body: dict[str, object] = json.loads(_STATE.dump_json(state))
    return body


def load_state(body: Mapping[str, object]) -> EngineState:
    """What `dump_state` wrote, of this format or of format 1."""
    schema = body.get("schema", 1)
    if schema not in (1, SCHEMA_VERSION):
        raise ValueError(f"rule engine state schema {schema!r} is not {SCHEMA_VERSION} (or 1, which is read as it is)")
    return _STATE.validate_python({**body, "schema": SCHEMA_VERSION})
