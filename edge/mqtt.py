"""The gateway's MQTT link: one persistent QoS 1 subscription, acknowledged only after the data is stored.

Wraps aiomqtt (on paho-mqtt 2.x) behind three calls — `run`, `ack`, `publish` — so the rest of the gateway never
sees the client library. The link reconnects with exponential backoff and keeps a persistent session
(`clean_session=False`, a fixed client id), so the broker holds QoS 1 messages while we are away.

Topics given as `routes` (exact topics, no wildcards) are subscribed too but delivered to their own handler, never to
`on_message`: the signed rule bundles from the cloud share the connection, not the device ingest path.

Acknowledgement is manual: paho would PUBACK as soon as a message is read, and a `kill -9` between that and the
SQLite commit would lose it. Here the gateway commits a batch and then acks it; anything unacknowledged is
redelivered by the broker after a reconnect and recognised as a duplicate by the hall model.

The session is only as safe as the broker's persistence: a broker that comes back without it (persistence off, its
file deleted, a snapshot older than the messages) answers the reconnect with session-present 0, and whatever it held
for us is gone. The link reads that flag from every CONNACK, counts a missing session after the process's first
connection as lost (`sessions_lost`, a WARNING in the log) and tells its owner through `on_session`; what to raise is
the owner's business, not the link's. It must not decide that a first connection without a session is a loss: on a new
broker or a new client id that is normal, and only the owner (its database) knows whether it has connected before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import cast

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import MqttSection

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes, datetime, int, int], None]  # topic, payload, received at, mid, qos
OnSession = Callable[[bool], None]  # the broker still had our session (CONNACK session-present)


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
        *,
        on_session: OnSession = lambda present: None,
    ) -> None:
        self._settings = settings
        self._client_id = client_id
        self._routes = dict(routes or {})
        self._filters = [*filters, *(t for t in self._routes if t not in filters)]
        self._on_message = on_message
        self._on_idle = on_idle
        self._on_connection = on_connection
        self._on_session = on_session
        self._client: aiomqtt.Client | None = None
        self._generation = 0  # bumps on every connection; acks of an older one are void
        self._connack_session: bool | None = None  # session-present of the CONNACK being waited for
        self.connected = False
        self.connects = 0
        self._open = asyncio.Event()  # cleared while held: the gateway cannot take messages (a storage fault)
        self._open.set()
        self.session_present: bool | None = None  # of the last CONNACK; None before the first connection
        self.sessions_lost = 0  # connections without a session after the first one of this process
        self.session_lost_at: datetime | None = None  # the last of those

    @property
    def generation(self) -> int:
        return self._generation

    async def run(self) -> None:
        """Connect, subscribe and deliver messages until cancelled, reconnecting with backoff."""
        s = self._settings
        delay = s.reconnect_min_s
        while True:
            if not self._open.is_set():
                await self._open.wait()  # held (`hold`): stay away until released, then connect at once
                delay = s.reconnect_min_s
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
            self._watch_connack(client)
            try:
                async with client:
                    present = bool(self._connack_session)
                    self._client = client
                    self._generation += 1
                    for f in self._filters:
                        await client.subscribe(f, qos=1)
                    # connected = subscribed: only now does the gateway really hear the hall
                    self.connected = True
                    self.connects += 1
                    log.info(
                        "broker connected host=%s port=%s client_id=%s session_present=%s",
                        s.host,
                        s.port,
                        self._client_id,
                        present,
                    )
                    self._note_session(present)
                    self._on_connection(True)
                    delay = s.reconnect_min_s
                    await self._pump(client)
            except aiomqtt.MqttError as exc:
                if not self._open.is_set():
                    log.info("left the broker while held; it keeps our session")
                    continue
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

    def hold(self) -> None:
        """Leave the broker and stay away until `release()`: the gateway cannot store what it would receive. A clean
        DISCONNECT keeps the persistent session, so the broker queues what comes meanwhile (nothing unacknowledged
        is lost: it is sent again after the reconnect); no last will is published."""
        if not self._open.is_set():
            return
        self._open.clear()
        client = self._client
        if client is not None:
            client._client.disconnect()  # the message loop ends with an MqttError; `run` then waits for release()

    def release(self) -> None:
        """Connect again (at once) after `hold()`."""
        self._open.set()

    @property
    def held(self) -> bool:
        return not self._open.is_set()

    def _watch_connack(self, client: aiomqtt.Client) -> None:
        """Note the CONNACK's session-present flag, which aiomqtt does not expose, then let aiomqtt handle the CONNACK.
        paho calls this on the event loop's thread (aiomqtt drives its socket), before `async with client` returns."""
        self._connack_session = None
        paho = client._client
        aiomqtt_on_connect = cast("mqtt.CallbackOnConnect_v2", paho.on_connect)  # aiomqtt uses paho's API v2

        def on_connect(
            c: mqtt.Client,
            userdata: object,
            flags: mqtt.ConnectFlags,
            reason_code: ReasonCode,
            properties: Properties | None = None,
        ) -> None:
            if not reason_code.is_failure:
                self._connack_session = flags.session_present
            aiomqtt_on_connect(c, userdata, flags, reason_code, properties)

        paho.on_connect = on_connect

    def _note_session(self, present: bool) -> None:
        self.session_present = present
        if not present and self.connects > 1:
            self.sessions_lost += 1
            self.session_lost_at = datetime.now(UTC)
            s = self._settings
            log.warning(
                "broker has no session for client_id=%s (host=%s port=%s): messages queued while the gateway was away "
                "may be lost",
                self._client_id,
                s.host,
                s.port,
            )
        elif not present:
            log.info(
                "broker starts a new session for client_id=%s (the first connection of this process)", self._client_id
            )
        self._on_session(present)

    async def _pump(self, client: aiomqtt.Client) -> None:
        messages = client.messages
        try:
            async for m in messages:
                self._deliver(m)
                if client._disconnected.done():
                    # aiomqtt hands out what it had queued before it says the connection is gone: take the rest now
                    # (below), then reconnect — not seconds of work while the gateway looks connected and can neither
                    # acknowledge nor publish (the outbox counted its attempts as failed)
                    raise aiomqtt.MqttError("the connection was lost")
                if len(messages) == 0:
                    self._on_idle()
        except aiomqtt.MqttError:
            self._take_queued(client)
            raise

    def _take_queued(self, client: aiomqtt.Client) -> None:
        """The connection is gone with messages still queued here (at most the broker's max_inflight_messages, 10,000
        in deploy/, a few seconds of ingest): they are taken, not dropped. The broker sends again what it saved of
        them (not acknowledged: the acknowledgements of this connection are void), and ingest drops those repeats by
        their `seq`; what it did not save — the broker killed before its next autosave — would be lost if dropped here.
        Not while held (`hold`): the store refuses writes, and the broker keeps them for later."""
        self._client = None  # gone: a commit meanwhile acknowledges nothing on it, and nothing is published on it
        if not self._open.is_set():
            return
        queue = client._queue  # aiomqtt's own queue: its iterator stops at a disconnection even with messages in it
        taken = 0
        while not queue.empty():
            self._deliver(queue.get_nowait())
            taken += 1
        if taken:
            log.info("took %d messages queued before the connection was lost", taken)

    def _deliver(self, m: aiomqtt.Message) -> None:
        payload = m.payload if isinstance(m.payload, bytes) else str(m.payload or "").encode()
        topic = m.topic.value
        self._routes.get(topic, self._on_message)(topic, payload, datetime.now(UTC), m.mid, m.qos)

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
