"""Toward the city/province platform: signed rule bundles down (`bundle.py`); store-and-forward to the MQTT cluster
is a later issue."""
