"""The one exception tree of hallops.

    HallOpsError
    ├── ConfigError     a configuration file or flag is wrong; carries every problem with its field path
    ├── PayloadError    an MQTT message breaks the device contract; carries a reason code and the field path
    ├── ActionError     an action (command, notification) could not be carried out
    └── SyncError       the cloud uplink failed

It lives in `devices` because every other package may import `devices` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass


class HallOpsError(Exception):
    """Base of every error hallops raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, located by its field path (`windows.W01.services[2]`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(HallOpsError):
    """A configuration (file, scenario, mapping or flag) is invalid. `problems` lists every error found."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is invalid ({len(problems)} error(s)):\n{lines}")


class PayloadError(HallOpsError):
    """An MQTT message breaks the contract. `reason` is a stable code used for counters and dead letters."""

    def __init__(self, reason: str, detail: str, path: str = "") -> None:
        self.reason = reason
        self.detail = detail
        self.path = path
        super().__init__(f"{reason}: {path + ': ' if path else ''}{detail}")


class ActionError(HallOpsError):
    """An action could not be carried out (a command not acknowledged, a webhook refused)."""


class SyncError(HallOpsError):
    """The cloud uplink failed."""


__all__ = ["ActionError", "ConfigError", "HallOpsError", "PayloadError", "Problem", "SyncError"]
