"""The whole city/province tier for the end-to-end tests: three NATS nodes, PostgreSQL, VictoriaMetrics and consumer
processes (`hallops cloud consume`), with a hall gateway configured to send to it (`gateway_cloud`).

    tier = CloudTier(tmp_path, nats, pg, vm)
    tier.consumers(2)                            # real processes, sharing the durable consumer
    tier.sql("SELECT count(*) FROM ratings")     # what the city holds
    demo_gateway(..., edit=tier.gateway_cloud)   # the hall's uplink to node 0 (then 1, 2)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import yaml

from edge.broker import free_port
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


class Link:
    """A hall's network link to the cloud engine, which a test can cut and restore: a TCP forwarder on 127.0.0.1 in
    front of `port`. Cut, it closes every connection at once (as a pulled cable does, no goodbye) and takes new ones
    only to close them."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.port = free_port()
        self.up = True
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        self._stop = False
        self._pipes: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.settimeout(None)  # an MQTT link is quiet for its keep-alive at a time
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                pipe = threading.Thread(target=self._pipe, args=(a, b), daemon=True)
                self._pipes.append(pipe)
                pipe.start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self._lock:
                self._open -= {a, b}

    def cut(self) -> None:
        self.up = False
        with self._lock:
            for s in list(self._open):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self._stop = True
        self.cut()
        self._thread.join(5)
        self._server.close()
        for pipe in self._pipes:
            pipe.join(5)
        with self._lock:
            for s in self._open:
                s.close()
            self._open.clear()
