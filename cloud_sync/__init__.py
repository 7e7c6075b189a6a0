"""Store-and-forward to the city/province MQTT cluster and signed rule bundles down (a later issue; not built yet)."""
