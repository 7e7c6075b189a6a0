"""What a decider is configured with: the hall, where notifications go, the tidal recommender's settings, and how long
devices have to acknowledge a command.

`settings_for(cfg)` reads them from the gateway configuration; a test or a backtest may build them directly. This
module must not read files or open anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.config import GatewayConfig
from rules.commands import ACK_WAITS_S
from rules.hall import HallProfile
from rules.rota import BreakSettings, PostKind, SkillBook, StaffSkills
from rules.tidal import TidalSettings


@dataclass(frozen=True, slots=True)
class DeciderSettings:
    profile: HallProfile  # the hall's id, time zone, windows and services
    topic: str  # the MQTT topic prefix of notifications (`<topic>/alerts`, `/tickets`, `/recommendations`)
    # each notification is also queued for these endpoints, named by their URL or the file holding it: their
    # format, filters, secrets and phone numbers stay with the sender (edge/outbox.py), read when a row is sent
    webhooks: tuple[str, ...]
    tidal: TidalSettings
    staff_pool: tuple[str, ...]  # staff who may be sent to a tidal window, in order of preference
    auto_approve: bool  # tidal openings are carried out without waiting for a manager
    # after each send of a command, in hall seconds (rules/commands.py): the configured real seconds × the device
    # clock's speed — a device answers as fast in a sped-up simulation as in life
    ack_waits_s: tuple[float, ...] = ACK_WAITS_S
    roster: tuple[StaffSkills, ...] = ()  # who can serve what (the `staff:` section): posts, skills, AB partners
    lunches: tuple[tuple[str, int], ...] = ()  # staff id → minutes of lunch to plan (staff.<id>.lunch_min)
    lunch: BreakSettings = field(
        default_factory=BreakSettings
    )  # the period lunches are planned in (tidal.lunch), the target wait


def settings_for(cfg: GatewayConfig) -> DeciderSettings:
    """The decider settings of a gateway with this configuration."""
    assert cfg.hall.id is not None
    t = cfg.tidal
    speed = cfg.clock.speed if cfg.clock.mode == "device" else 1.0
    return DeciderSettings(
        profile=cfg.profile(),
        topic=cfg.notify.topic.replace("{hall}", cfg.hall.id),
        webhooks=tuple(w.target for w in cfg.notify.webhooks),
        tidal=TidalSettings(
            target_wait_min=t.target_wait_min,
            service_level=t.service_level,
            patience_min=t.patience_min,
            default_aht_min=cfg.default_aht_min,
            check_after_min=t.check_after_min,
            appointment_boost_min=t.appointment_boost_min,
        ),
        staff_pool=tuple(t.staff_pool),
        auto_approve=t.auto_approve,
        ack_waits_s=tuple(w * speed for w in cfg.commands.ack_waits_s),
        roster=tuple(
            StaffSkills(sid, frozenset(p.skills), post=p.post, partner=p.partner, kind=PostKind(p.kind))
            for sid, p in cfg.staff.items()
        ),
        lunches=tuple((sid, p.lunch_min) for sid, p in cfg.staff.items() if p.lunch_min is not None),
        lunch=BreakSettings(*t.lunch_span(), target_wait_min=t.target_wait_min),
    )


def skill_book(settings: DeciderSettings) -> SkillBook:
    """The roster as a skills model, each post with its configured services."""
    return SkillBook(settings.roster, {w.window_id: w.services for w in settings.profile.windows})


def tidal_pool(settings: DeciderSettings) -> tuple[str, ...]:
    """Whom the tidal recommender may send to a window: the configured pool, then the approvers and mobile posts of
    the roster (staff without a window of their own)."""
    off = [s.staff_id for s in settings.roster if s.post is None and s.kind in (PostKind.APPROVER, PostKind.MOBILE)]
    return (*settings.staff_pool, *(s for s in off if s not in settings.staff_pool))
