"""The gateway's MQTT link: one persistent QoS 1 subscription, acknowledged only after the data is stored.

Wraps aiomqtt (on paho-mqtt 2.x) behind three calls — `run`, `ack`, `publish` — so the rest of the gateway never
sees the client library. The link reconnects with exponential backoff and keeps a persistent session
(`clean_session=False`, a fixed client id), so the broker holds QoS 1 messages while we are away.

Topics given as `routes` (exact topics, no wildcards) are subscribed too but delivered to their own handler, never to
`on_message`: the signed rule bundles from the cloud share the connection, not the device ingest path.

Acknowledgement is manual: paho would PUBACK as soon as a message is read, and a `kill -9` between that and the
SQLite commit would lose it. Here the gateway commits a batch and then acks it; anything unacknowledged is
redelivered by the broker after a reconnect and recognised as a duplicate by the hall model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import aiomqtt

from edge.config import MqttSection

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes, datetime, int, int], None]  # topic, payload, received at, mid, qos


class MqttLink:
    def __init__(
        self,
        settings: MqttSection,
        client_id: str,
        filters: Sequence[str],
        on_message: OnMessage,
        on_idle: Callable[[], None],
        on_connection: Callable[[bool], None] = lambda up: None,
        routes: Mapping[str, OnMessage] | None = None,
    ) -> None:
        self._settings = settings
        self._client_id = client_id
        self._routes = dict(routes or {})
        self._filters = [*filters, *(t for t in self._routes if t not in filters)]
        self._on_message = on_message
        self._on_idle = on_idle
        self._on_connection = on_connection
        self._client: aiomqtt.Client | None = None
        self._generation = 0  # bumps on every connection; acks of an older one are void
        self.connected = False
        self.connects = 0

    @property
    def generation(self) -> int:
        return self._generation

    async def run(self) -> None:
        """Connect, subscribe and deliver messages until cancelled, reconnecting with backoff."""
        s = self._settings
        delay = s.reconnect_min_s
        while True:
            client = aiomqtt.Client(
                s.host,
                s.port,
                identifier=self._client_id,
                username=s.username,
                password=s.password(),
                keepalive=s.keepalive_s,
                clean_session=False,
                tls_context=s.address.tls_context(),
            )
            # aiomqtt has no manual-ack option; paho has. `_client` is aiomqtt's documented paho escape hatch.
            client._client.manual_ack_set(True)
            try:
                async with client:
                    self._client = client
                    self._generation += 1
                    for f in self._filters:
                        await client.subscribe(f, qos=1)
                    # connected = subscribed: only now does the gateway really hear the hall
                    self.connected = True
                    self.connects += 1
                    self._on_connection(True)
                    log.info("broker connected host=%s port=%s client_id=%s", s.host, s.port, self._client_id)
                    delay = s.reconnect_min_s
                    await self._pump(client)
            except aiomqtt.MqttError as exc:
                if self.connected:
                    log.warning("broker connection lost: %s; reconnecting", exc)
                else:
                    log.warning("broker unreachable at %s:%s: %s; retrying in %.1f s", s.host, s.port, exc, delay)
            finally:
                was = self.connected
                self.connected = False
                self._client = None
                if was:
                    self._on_connection(False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, s.reconnect_max_s)

    async def _pump(self, client: aiomqtt.Client) -> None:
        messages = client.messages
        routes, on_message = self._routes, self._on_message
        async for m in messages:
            payload = m.payload if isinstance(m.payload, bytes) else str(m.payload or "").encode()
            topic = m.topic.value
            routes.get(topic, on_message)(topic, payload, datetime.now(UTC), m.mid, m.qos)
            if len(messages) == 0:
                self._on_idle()

    def ack(self, acks: Sequence[tuple[int, int, int]]) -> None:
        """PUBACK stored messages: (generation, mid, qos). Acks from an earlier connection are dropped."""
        client = self._client
        if client is None:
            return
        for generation, mid, qos in acks:
            if qos > 0 and generation == self._generation:
                client._client.ack(mid, qos)

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        client = self._client
        if client is None:
            raise aiomqtt.MqttError("not connected to the broker")
        await client.publish(topic, payload, qos=qos, retain=retain)
