"""How the tidal recommender sizes, opens, checks and closes: `TidalSettings`, validated on construction.

Owns the knobs and their defaults (research/queue-and-staffing.md §6.3; docs/tidal.md). Must not read files or
config: edge/ builds a `TidalSettings` from the gateway config.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from rules.staffing import Model


@dataclass(frozen=True, slots=True)
class TidalSettings:
    """How the recommender sizes, opens, checks and closes (minutes and fractions; defaults from research §6.3)."""

    target_wait_min: float = 15.0  # T of the service level: called within 15 min (SL15)
    service_level: float = 0.8  # … for 80 % of the arrivals
    patience_min: float | None = None  # None: Erlang C; a mean patience: Erlang A with the walkout cap below
    max_abandonment: float = 0.05  # Erlang A only: the target must not be "met" by people leaving
    default_aht_min: float = 10.0  # mean service time until a service's own is learned (ServiceView.aht_learned)
    aht_defaults_min: Mapping[str, float] = field(default_factory=dict)  # per-service defaults (service profile)
    horizon_min: float = 20.0  # plan for the backlog plus the arrivals of the next 20 min
    open_delay_min: float = 5.0  # from recommendation to a new window calling its first ticket (approval, walking)
    max_windows: int = 3  # at most this many windows per recommendation
    min_tickets_helped: int = 3  # each window opened must bring at least this many late tickets within the target …
    min_minutes_saved: float = 180.0  # … or save this many minutes of waiting past it (a queue late whatever we do)
    pool_services: bool = True  # an opened window serves every service it can, longest-waiting ticket first
    include_paused: bool = False  # may a paused window (staff on break or in the back office) be proposed?
    valid_for_min: float = 10.0  # a recommendation expires this long after it was made
    id_bucket_min: float = 15.0  # the same situation within one such bucket keeps its recommendation id
    check_after_min: float = 10.0  # after an approved opening, the projected wait must have fallen by then
    check_min_drop: float = 0.0  # … by at least this fraction (0: any fall)
    close_after_min: float = 5.0  # a tidal window spare (see `spare`) this long without interruption → close it
    appointment_boost_min: float = 10.0  # the queue system calls an appointment as if it had waited this much longer

    def __post_init__(self) -> None:
        for name in ("target_wait_min", "default_aht_min", "horizon_min", "valid_for_min", "id_bucket_min"):
            _positive(name, getattr(self, name))
        for name in ("open_delay_min", "check_after_min", "close_after_min", "min_minutes_saved"):
            _non_negative(name, getattr(self, name))
        _non_negative("appointment_boost_min", self.appointment_boost_min)
        if not 0 < self.service_level < 1:
            raise ValueError(f"service_level must be a fraction in (0, 1), e.g. 0.8, got {self.service_level!r}")
        if not 0 < self.max_abandonment < 1:
            raise ValueError(f"max_abandonment must be a fraction in (0, 1), got {self.max_abandonment!r}")
        if not 0 <= self.check_min_drop < 1:
            raise ValueError(f"check_min_drop must be a fraction in [0, 1), got {self.check_min_drop!r}")
        if self.patience_min is not None:
            _positive("patience_min", self.patience_min)
        if self.open_delay_min >= self.target_wait_min:
            raise ValueError("open_delay_min must be shorter than target_wait_min: a new window could never help")
        if isinstance(self.max_windows, bool) or not isinstance(self.max_windows, int) or self.max_windows < 1:
            raise ValueError(f"max_windows must be a whole number ≥ 1, got {self.max_windows!r}")
        helped = self.min_tickets_helped
        if isinstance(helped, bool) or not isinstance(helped, int) or helped < 1:
            raise ValueError(f"min_tickets_helped must be a whole number ≥ 1, got {helped!r}")
        for code, aht in self.aht_defaults_min.items():
            _positive(f"aht_defaults_min[{code}]", aht)

    @property
    def model(self) -> Model:
        return Model.ERLANG_C if self.patience_min is None else Model.ERLANG_A


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")


def _non_negative(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a number ≥ 0, got {value!r}")
