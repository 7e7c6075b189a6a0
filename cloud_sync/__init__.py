"""The city/province tier and the hall's way to it (docs/sync.md):

- `wire.py`: what crosses — streams, topics, the batch, the confirmation, the status;
- `uplink.py`: the hall's connection to the engine, sending its outbox and taking the confirmations;
- `settings.py`, `consume.py`, `ledger.py`, `series.py`: `hallops cloud consume` — the engine's stream into
  PostgreSQL (idempotent, with the confirmation watermark) and the time series;
- `fleet.py`: the fleet view's reads (`hallops cloud serve`, edge/fleet);
- `bundle.py`, `delivery.py`: signed rule bundles and how they travel down.
"""
