"""A hall's box and the city/province tier end to end, with real processes: the simulated hall on mosquitto, the
gateway with its cloud outbox and uplink, three NATS nodes (JetStream, MQTT), consumers committing to PostgreSQL and
VictoriaMetrics. What a city's office relies on: after an outage of the cloud, after the gateway is killed while it
drains, with a disk budget too small for the backlog, every alert change, ticket version, rating and hour is in
PostgreSQL exactly once, and the hall's backlog goes back to zero."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.broker import MosquittoProcess
from tests.integration.cloud_engines import NatsCluster, PostgresServer, VictoriaMetrics
from tests.integration.cloud_tier import CloudTier
from tests.integration.conftest import CST, GatewayProcess, demo_gateway, wait_until

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=CST)
SPEED = 90  # the hall's clock in the outage test: the county hall then sends about 130 messages a second
QUIET = 60  # the kill and budget tests need no particular pace: a lighter load on a shared box


@pytest.fixture
def tier(
    tmp_path: Path, nats_cluster: NatsCluster, postgres: PostgresServer, victoria: VictoriaMetrics
) -> Iterator[CloudTier]:
    nats_cluster.wait_ready()
    t = CloudTier(tmp_path, nats_cluster, postgres, victoria)
    yield t
    t.close()


def cloud(gw: GatewayProcess) -> dict[str, Any]:
    health = gw.health()
    assert health["cloud"] is not None, "the gateway has no cloud uplink"
    got: dict[str, Any] = health["cloud"]
    return got


def edge(db: Path, query: str, *args: object) -> list[tuple[Any, ...]]:
    """The hall's own file, read-only (WAL: the running gateway is not disturbed)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return list(conn.execute(query, args).fetchall())


def hall_time(gw: GatewayProcess) -> datetime:
    return datetime.fromisoformat(str(gw.get("/api/hall")["at"]))  # type: ignore[index]


def caught_up(gw: GatewayProcess) -> bool:
    c = cloud(gw)
    return bool(c["connected"]) and c["backlog"] == 0


STREAMS = (
    ("alerts", "alert_history"),
    ("tickets", "ticket_versions"),
    ("ratings", "ratings"),
    ("devices", "device_availability"),
)


def assert_exactly_once(tier: CloudTier, gw: GatewayProcess, hall: str, samples: bool = True) -> None:
    """Everything the hall had numbered when this is called reaches the city's tables, once: each stream's records
    1…n with no gap, and the alert changes and ratings the same, in the same order, as in the hall's own file (its
    alert history and its event log hold them in the transactions that numbered them)."""
    last = {s: n for s, n in edge(gw.db, "SELECT stream, last_seq FROM cloud_streams")}

    def arrived() -> bool:
        confirmed = dict(tier.sql("SELECT stream, seq FROM confirmed WHERE hall = %s", hall))
        return all(confirmed.get(s, 0) >= last.get(s, 0) for s, _ in STREAMS)

    wait_until(arrived, 120, "the city to confirm what the hall had numbered")
    for stream, table in STREAMS:
        n = last.get(stream, 0)
        seqs = [r[0] for r in tier.sql(f"SELECT seq FROM {table} WHERE hall = %s AND seq <= %s ORDER BY seq", hall, n)]
        assert seqs == list(range(1, n + 1)), f"{stream}: {len(seqs)} rows for {n} records"
    n = last["alerts"]
    at_edge = edge(gw.db, "SELECT fingerprint, state FROM alert_history ORDER BY id LIMIT ?", n)
    at_city = tier.sql(
        "SELECT fingerprint, state FROM alert_history WHERE hall = %s AND seq <= %s ORDER BY seq", hall, n
    )
    assert [tuple(r) for r in at_city] == [tuple(r) for r in at_edge] and n > 0
    n = last["ratings"]
    scores = edge(
        gw.db,
        "SELECT json_extract(payload, '$.score') FROM events WHERE type = 'rating.submitted' ORDER BY id LIMIT ?",
        n,
    )
    city = tier.sql("SELECT score FROM ratings WHERE hall = %s AND seq <= %s ORDER BY seq", hall, n)
    assert [r[0] for r in city] == [int(r[0]) for r in scores] and n > 0
    # the hours' figures as the hall's report has them; the samples as time series
    hours = {r[0]: r[1] for r in tier.sql("SELECT start, figures FROM kpi_hours WHERE hall = %s", hall)}
    assert hours and all(f["issued"] >= f["served"] >= 0 for f in hours.values())
    if not samples:  # (a budget that dropped them: the windows' sample may be gone until the windows change)
        return
    assert tier.vm is not None

    def sampled() -> bool:
        assert tier.vm is not None
        tier.vm.flush()
        return bool(tier.vm.query(f'hall_windows_open{{hall="{hall}"}}'))

    wait_until(sampled, 180, "the hall's samples in the time series")


def test_a_cloud_outage_is_caught_up_exactly_once_and_the_backlog_drains(
    mosquitto: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    simulate: Callable[..., None],
    tier: CloudTier,
    tmp_path: Path,
) -> None:
    tier.consumers(2)
    gw = demo_gateway(gateway_factory, mosquitto.url, tmp_path, speed=SPEED, edit=tier.gateway_cloud)
    hall = "county-01"
    simulate("4h", MONDAY_9, speed=SPEED)
    wait_until(
        lambda: tier.one("SELECT count(*) FROM alert_history WHERE hall = %s", hall) > 0,
        120,
        "a first alert in the city",
    )
    assert cloud(gw)["connected"]
    # the whole cluster goes away for 10 minutes of the hall
    for i in range(3):
        tier.nats.kill(i)
    wait_until(lambda: not cloud(gw)["connected"], 60, "the uplink to notice")
    start, received = hall_time(gw), gw.health()["counters"]["received"]  # type: ignore[index]
    wait_until(lambda: hall_time(gw) >= start + timedelta(minutes=10), 360, "10 minutes of the hall")
    # the hall's pace: messages per second of its clock, times SPEED (a loaded box slows the hall and its clock alike)
    span = (hall_time(gw) - start).total_seconds() / SPEED
    rate = (gw.health()["counters"]["received"] - received) / span  # type: ignore[index]
    down = cloud(gw)
    assert down["backlog"] > 0 and not down["connected"]
    for i in range(3):
        tier.nats.start(i)
    tier.nats.wait_ready()
    wait_until(lambda: caught_up(gw), 180, "the backlog to drain after the outage")
    assert rate >= 100, f"the hall sent {rate:.0f} messages a second during the outage"
    assert_exactly_once(tier, gw, hall)


def outage(tier: CloudTier, gw: GatewayProcess, minutes: float) -> None:
    """The whole cluster away for `minutes` of the hall, then back (once the hall is heard and its uplink is up)."""
    hall = gw.health()["hall"]
    wait_until(lambda: tier.one("SELECT count(*) FROM halls WHERE hall = %s", hall) > 0, 120, "the hall in the city")
    wait_until(lambda: cloud(gw)["connected"], 60, "the uplink")
    # the hall's clock follows its devices once it hears them: before that it reads the box's date, which the hall's
    # minutes would never reach (a city that sees the hall's first status within a blink came before the devices)
    wait_until(lambda: gw.accepted() > 0, 60, "the hall's first messages")
    for i in range(3):
        tier.nats.kill(i)
    wait_until(lambda: not cloud(gw)["connected"], 60, "the uplink to notice")
    start = hall_time(gw)
    # generous: on a loaded box the simulator (and with it the hall's clock) runs slower than its pace
    wait_until(lambda: hall_time(gw) >= start + timedelta(minutes=minutes), 360, f"{minutes} minutes of the hall")
    for i in range(3):
        tier.nats.start(i)
    tier.nats.wait_ready()


def test_a_gateway_killed_again_and_again_while_it_drains_loses_nothing_and_doubles_nothing(
    mosquitto: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    simulate: Callable[..., None],
    tier: CloudTier,
    tmp_path: Path,
) -> None:
    """A slow drain (20 records a message, 100 a second) so that each `kill -9` lands with messages sent and not
    confirmed, rows committed and not sent, and ingest's own commits under way; the broker redelivers what the
    gateway had not acknowledged, and the uplink resends what the cloud had not confirmed."""
    tier.consumers(1)
    gw = demo_gateway(
        gateway_factory,
        mosquitto.url,
        tmp_path,
        speed=QUIET,
        edit=lambda cfg: tier.gateway_cloud(cfg, batch_records=20, max_records_per_s=100),
    )
    hall = "county-01"
    simulate("4h", MONDAY_9, speed=QUIET)
    outage(tier, gw, 10)
    waiting = []  # records still to go at each kill
    for _ in range(3):
        wait_until(lambda: cloud(gw)["connected"] and cloud(gw)["counters"]["batches"] > 0, 60, "the drain to begin")
        waiting.append(cloud(gw)["backlog"])
        gw.kill9()
        gw.start()
    wait_until(lambda: caught_up(gw), 180, "the backlog to drain after the kills")
    assert len(waiting) == 3 and min(waiting) > 0, f"a kill came after the drain had ended: {waiting}"
    assert_exactly_once(tier, gw, hall)


def test_a_disk_budget_too_small_for_the_outage_drops_samples_only_and_says_so(
    mosquitto: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    simulate: Callable[..., None],
    tier: CloudTier,
    tmp_path: Path,
) -> None:
    tier.consumers(1)
    budget_mb = 0.03  # about 30 KB: a sample of the county hall every 5 s of its clock fills it in a few minutes
    gw = demo_gateway(
        gateway_factory,
        mosquitto.url,
        tmp_path,
        speed=QUIET,
        edit=lambda cfg: tier.gateway_cloud(cfg, budget_mb=budget_mb, telemetry_every_s=5),
    )
    hall = "county-01"
    simulate("4h", MONDAY_9, speed=QUIET)
    wait_until(lambda: cloud(gw)["connected"], 60, "the uplink")
    for i in range(3):
        tier.nats.kill(i)
    wait_until(lambda: cloud(gw)["dropped"] > 0, 120, "the budget to be reached")
    down = cloud(gw)
    streams = {s["stream"]: s for s in down["streams"]}
    assert streams["telemetry"]["dropped"] == down["dropped"] > 0  # samples only …
    assert all(s["dropped"] == 0 for name, s in streams.items() if name != "telemetry")  # … never anything else
    assert down["backlog_bytes"] <= down["budget_bytes"] + 20_000  # within the budget (give or take a second's rows)
    for i in range(3):
        tier.nats.start(i)
    tier.nats.wait_ready()
    wait_until(lambda: caught_up(gw), 180, "the backlog to drain")
    assert_exactly_once(tier, gw, hall, samples=False)
    # the samples' numbers are confirmed across the gap the budget left: nothing waits for what will never come
    last = dict(edge(gw.db, "SELECT stream, last_seq FROM cloud_streams"))
    wait_until(
        lambda: (
            (tier.one("SELECT seq FROM confirmed WHERE hall = %s AND stream = 'telemetry'", hall) or 0)
            >= last["telemetry"]
        ),
        60,
        "the telemetry stream confirmed over its gap",
    )
