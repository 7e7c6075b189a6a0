"""Camera people counting → `occupancy` messages on MQTT, its own process (`hallops vision`; docs/vision.md).

It imports only `devices` (the contract): each camera is a device. Frames never leave the process; only counts do.
"""
