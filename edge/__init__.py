"""The gateway process: MQTT ingest, hall state, storage, HTTP API and page — the composition root.

Only `edge` wires the other packages together; nothing imports `edge`.
"""
