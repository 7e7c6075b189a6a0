"""The device contract v1 (MQTT topics, payload models, commands) and a hall simulator that speaks it.

`devices` imports nothing from the other hallops packages: everything else depends on it.
"""

# The public modules: what the other packages may import from (each names its public names in its own `__all__`).
# `errors`, `units`, `broker_address` and `validation` are the shared kernel every package uses
# (tests/unit/test_public_surface.py).
__all__ = [
    "broker_address",
    "cli",
    "codec",
    "contract",
    "errors",
    "mapping",
    "schema",
    "simulator",
    "topics",
    "units",
    "validation",
]
