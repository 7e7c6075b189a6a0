"""What a decider is configured with: the hall, where notifications go, and the tidal recommender's settings.

`settings_for(cfg)` reads them from the gateway configuration; a test or a backtest may build them directly. This
module must not read files or open anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.config import GatewayConfig
from rules.hall import HallProfile
from rules.tidal import TidalSettings


@dataclass(frozen=True, slots=True)
class DeciderSettings:
    profile: HallProfile  # the hall's id, time zone, windows and services
    topic: str  # the MQTT topic prefix of notifications (`<topic>/alerts`, `/tickets`, `/recommendations`)
    webhooks: tuple[str, ...]  # each notification is also POSTed to these URLs
    tidal: TidalSettings
    staff_pool: tuple[str, ...]  # staff who may be sent to a tidal window, in order of preference
    auto_approve: bool  # tidal openings are carried out without waiting for a manager


def settings_for(cfg: GatewayConfig) -> DeciderSettings:
    """The decider settings of a gateway with this configuration."""
    assert cfg.hall.id is not None
    t = cfg.tidal
    return DeciderSettings(
        profile=cfg.profile(),
        topic=cfg.notify.topic.replace("{hall}", cfg.hall.id),
        webhooks=tuple(cfg.notify.webhooks),
        tidal=TidalSettings(
            target_wait_min=t.target_wait_min,
            service_level=t.service_level,
            patience_min=t.patience_min,
            default_aht_min=cfg.default_aht_min,
            check_after_min=t.check_after_min,
        ),
        staff_pool=tuple(t.staff_pool),
        auto_approve=t.auto_approve,
    )
