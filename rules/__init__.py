"""Facts and decisions: the live hall model, the rule language, alert/ticket lifecycles, staffing maths.

Pure: models in, decisions out, time injected. No asyncio, no I/O, nothing imported from `edge`.
"""

# The public modules: what `edge` and `cloud_sync` may import from (each names its public names in its own
# `__all__`); everything else in `rules` is inside one of them (tests/unit/test_public_surface.py).
__all__ = [
    "alerts",
    "clock",
    "commands",
    "engine",
    "firings",
    "hall",
    "kpi",
    "language",
    "metrics",
    "rota",
    "schedule",
    "staffing",
    "tickets",
    "tidal",
]
