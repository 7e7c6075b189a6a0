"""The whole city/province tier for the end-to-end tests: three NATS nodes, PostgreSQL, VictoriaMetrics and consumer
processes (`hallops cloud consume`), with a hall gateway configured to send to it (`gateway_cloud`).

    tier = CloudTier(tmp_path, nats, pg, vm)
    tier.consumers(2)                            # real processes, sharing the durable consumer
    tier.sql("SELECT count(*) FROM ratings")     # what the city holds
    demo_gateway(..., edit=tier.gateway_cloud)   # the hall's uplink to node 0 (then 1, 2)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import yaml

from tests.harness import ROOT, wait_until
from tests.integration.cloud_engines import NatsCluster, PostgresServer, VictoriaMetrics


class CloudTier:
    def __init__(self, tmp: Path, nats: NatsCluster, pg: PostgresServer, vm: VictoriaMetrics | None = None) -> None:
        self.tmp, self.nats, self.pg, self.vm = tmp, nats, pg, vm
        self.config = tmp / "cloud.yaml"
        cfg: dict[str, Any] = {
            "nats": {"servers": nats.client_urls},
            "stream": {"replicas": 3},
            "consumer": {"ack_wait_s": 5, "batch": 256, "provision_timeout_s": 60},
            "postgres": {"dsn": " ".join(p for p in pg.dsn.split() if not p.startswith("password="))},
        }
        if vm is not None:
            cfg["series"] = {"url": vm.url, "flush_interval_ms": 200}
        self.config.write_text(yaml.safe_dump(cfg), "utf-8")
        self.procs: list[subprocess.Popen[bytes]] = []

    def consumer(self) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        with (self.tmp / f"consumer-{n}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "edge.cli", "cloud", "consume", "--config", str(self.config)],
                stdout=log,
                stderr=log,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "HALLOPS_PG_PASSWORD": self.pg.PASSWORD},
            )
        self.procs.append(proc)
        return proc

    def consumers(self, n: int) -> list[subprocess.Popen[bytes]]:
        """`n` consumer processes, once the first has made its tables and its durable consumer."""
        procs = [self.consumer() for _ in range(n)]
        wait_until(
            lambda: (
                any(p.poll() is not None for p in procs) or self.one("SELECT to_regclass('public.halls')") is not None
            ),
            90,
            "the consumers' tables",
        )
        for i, p in enumerate(procs):
            assert p.poll() is None, f"consumer {i} exited:\n{self.log(len(self.procs) - n + i)[-3000:]}"
        return procs

    def log(self, n: int) -> str:
        return (self.tmp / f"consumer-{n}.log").read_text("utf-8", errors="replace")

    def sql(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.pg.dsn, autocommit=True) as conn:
            return list(conn.execute(query, args).fetchall())

    def one(self, query: str, *args: object) -> Any:
        rows = self.sql(query, *args)
        return rows[0][0] if rows else None

    def gateway_cloud(self, cfg: dict[str, Any], **cloud: Any) -> None:
        """Point a gateway configuration (its JSON, as demo_gateway's `edit` sees it) at the cluster's MQTT ports."""
        urls = [f"mqtt://127.0.0.1:{p}" for p in self.nats.mqtt_ports]
        cfg["cloud"] = {"url": urls[0], "urls": urls[1:], "resend_after_s": 10, "status_every_s": 2, **cloud}

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
