"""Toward the city/province platform: signed rule bundles (`bundle.py`) and how they travel over the MQTT cluster —
push, topics, the gateway's receiver and its reports (`delivery.py`); store-and-forward of the outbox to the cluster
is a later issue."""
