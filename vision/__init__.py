"""Camera people counting → `occupancy` messages on MQTT, its own process (issue 6; not built yet).

It will import only `devices` (the contract).
"""
