"""Running the rules in the gateway: when to evaluate, and what to do with the decisions.

Evaluation happens after new messages (at most every `MIN_INTERVAL_S`), at the engine's next deadline (a `for`
elapsing, an escalation, a repeat — so an alert fires on time, not on the next tick), and at least once a second.
Each evaluation's outcome is written in one SQLite transaction: the engine's clocks, the alert history, and the
outbox rows that carry the notifications (MQTT alert topic, webhooks) and device commands. The outbox sender then
delivers them; the live stream (SSE) gets them at once.

    settings.py  DeciderSettings: the hall, where notifications go, the tidal settings (`settings_for(cfg)`)
    loop.py      Decider: restore, when to evaluate, the evaluation, people's actions; `decider_for(cfg, …)`
    batch.py     Batch: what one evaluation produced (the store's rows), written in one transaction
    commands.py  an Act or an approved recommendation → device commands (MQTT), tracked until acknowledged
    records.py   alerts, tickets and recommendations as JSON (history, records, notifications, the API)
    shadow.py    Shadow: a candidate rule version evaluated beside the active one, and its diff
    demand.py    what the demand profile learns: the log at start, each message after

Import from `edge.decisions`; the modules are the package's own business.
"""

from edge.decisions.batch import Batch, LiveEvent
from edge.decisions.demand import PROFILE_DAYS, WINDOW_OPENS
from edge.decisions.loop import MAX_SLEEP_S, MIN_INTERVAL_S, STATE_EVERY_S, TIDAL_EVERY_S, Decider, decider_for
from edge.decisions.records import alert_json, ticket_json
from edge.decisions.settings import DeciderSettings, settings_for
from edge.decisions.shadow import SHADOW_FIRINGS_KEPT, Shadow, firings_of

__all__ = [
    "MAX_SLEEP_S",
    "MIN_INTERVAL_S",
    "PROFILE_DAYS",
    "SHADOW_FIRINGS_KEPT",
    "STATE_EVERY_S",
    "TIDAL_EVERY_S",
    "WINDOW_OPENS",
    "Batch",
    "Decider",
    "DeciderSettings",
    "LiveEvent",
    "Shadow",
    "alert_json",
    "decider_for",
    "firings_of",
    "settings_for",
    "ticket_json",
]
