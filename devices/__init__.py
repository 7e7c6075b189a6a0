"""The device contract v1 (MQTT topics, payload models, commands) and a hall simulator that speaks it.

`devices` imports nothing from the other hallops packages: everything else depends on it.
"""
