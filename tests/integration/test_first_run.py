"""A newcomer's first run, from a clean copy of the checkout into an empty virtualenv, as the README tells it.

1. `pip install .` (no extras) into a fresh venv: every module of every package imports from the installed wheel (not
   from the source tree), and `hallops gateway` answers /api/health.
2. The README's demo command, `bash scripts/demo.sh`, in that checkout (its set-up adds the demo's extras to the same
   venv): the web UI answers and asks who you are, a manager signs in, the simulated hall opens its windows and issues
   tickets, a page holds the live stream open, and one Ctrl-C — SIGINT to the
   whole process group, as a terminal sends it — stops everything with exit status 0, no traceback or asyncio error
   in the output, no process left over, and its temporary directories gone.

This is the slowest single test (two pip installs, from pip's cache on a warm machine); it replaces what a person
would otherwise have to try by hand before every release.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from edge.broker import MosquittoProcess, free_port
from edge.demo import DEMO_PASSWORD
from tests.integration.conftest import ROOT, wait_until

PACKAGES = ("edge", "devices", "rules", "vision", "cloud_sync")
IMPORT_ALL = f"""
import importlib, pkgutil
names = []
for package in {PACKAGES!r}:
    module = importlib.import_module(package)
    assert "site-packages" in module.__file__, module.__file__  # the installed copy, not the source tree
    names.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        importlib.import_module(info.name)
        names.append(info.name)
print(len(names), "modules imported")
"""
SIGNS_OF_TROUBLE = ("Traceback", "exception was never retrieved", "MqttCodeError", "Exception in ASGI application")


def copy_checkout(dest: Path) -> Path:
    """The files a clean clone has (tracked, plus new files not ignored), copied from the working tree."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():  # a file deleted in the working tree but still in the index is not copied
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def newcomer_env(tmp: Path) -> dict[str, str]:
    """The environment of a shell without this project's venv, temporary files under `tmp`."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env["TMPDIR"] = str(tmp)
    return env


@pytest.mark.timeout(900)
def test_a_newcomer_installs_it_and_runs_the_gateway_and_the_demo(tmp_path: Path) -> None:
    work = tmp_path / "tmp"
    work.mkdir()
    env = newcomer_env(work)
    checkout = copy_checkout(tmp_path / "hallops")
    python3 = shutil.which("python3", path=env["PATH"]) or sys._base_executable
    venv = checkout / ".venv"

    # 1. pip install . — no extras
    subprocess.run([python3, "-m", "venv", str(venv)], check=True, env=env, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "--disable-pip-version-check", "."],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    imported = subprocess.run(
        [str(venv / "bin/python"), "-c", IMPORT_ALL],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    in_tree = sum(1 for package in PACKAGES for _ in (ROOT / package).rglob("*.py"))
    assert int(imported.stdout.split()[0]) == in_tree, imported.stdout  # every module of the source tree

    with MosquittoProcess() as broker:
        port = free_port()
        gateway = subprocess.Popen(
            [
                str(venv / "bin/hallops"),
                "gateway",
                "--hall",
                "h",
                "--db",
                str(work / "x.db"),
                "--http",
                f"127.0.0.1:{port}",
                "--broker",
                broker.url,
            ],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            health = _wait_for_health(port, gateway)
            assert health["status"] == "ok" and health["broker_connected"] is True, health
        finally:
            gateway.send_signal(signal.SIGINT)
            out, _ = gateway.communicate(timeout=30)
        assert gateway.returncode == 0, out
        assert not [s for s in SIGNS_OF_TROUBLE if s in out], out

    # 2. the README's first command, in the same checkout
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("w") as out_file:
        demo = subprocess.Popen(
            ["bash", "scripts/demo.sh", "--http", f"127.0.0.1:{port}", "--speed", "600"],
            cwd=checkout,
            env=env,
            stdout=out_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # every process the demo started, with its command line; keyed by pid *and* start time, as the set-up's many
    # short processes free pids that the kernel (pid_max 32768) may give again to the broker
    seen: dict[psutil.Process, str] = {}

    def look() -> None:
        for child in psutil.Process(demo.pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):  # a set-up step that just ended
                seen.setdefault(child, " ".join(child.cmdline()))

    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:

        def serving() -> bool:
            assert demo.poll() is None, log.read_text()
            look()
            try:
                return http.get("/").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(serving, timeout=600, what="the demo's web UI (set-up included)")
        page = http.get("/")
        assert "hallops" in page.text and "/static/app.js" in page.text
        assert http.get("/api/hall").status_code == 401  # the demo asks who you are
        signed_in = http.post("/api/session", json={"user": "manager", "password": DEMO_PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["role"] == "manager"
        assert http.get("/api/hall").status_code == 200  # the session cookie works
        wait_until(lambda: http.get("/api/health").json()["broker_connected"] is True, what="the demo's broker")

        def busy() -> bool:
            hall = http.get("/api/hall").json()
            return bool(hall["totals"]["windows_open"] > 0 and sum(s["issued_today"] for s in hall["services"]) > 20)

        wait_until(busy, timeout=120, what="the simulated hall to open and issue tickets")
        look()
        assert "hallops demo: mosquitto broker on" in log.read_text(), log.read_text()  # the system mosquitto…
        assert any("mosquitto" in line for line in seen.values()), list(seen.values())  # …run by the demo itself

        opened = threading.Event()
        reader = threading.Thread(target=_hold_the_live_stream, args=(port, http.cookies, opened), daemon=True)
        reader.start()
        assert opened.wait(20), "the live stream did not open"
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground process group
        assert demo.wait(60) == 0, log.read_text()
        reader.join(20)
        assert not reader.is_alive(), "the live stream did not end when the demo stopped"
    finally:
        http.close()
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        left = [line for proc, line in seen.items() if _alive(proc)]
        for proc in seen:  # whatever happened, no broker is left behind (it has a session of its own)
            with contextlib.suppress(psutil.NoSuchProcess):
                if _alive(proc):
                    proc.kill()
    text = log.read_text()
    assert "setup: 3/3 installing hallops[embedded-broker]" in text  # the set-up says what it does
    assert "hallops demo: stopped" in text
    assert f"password: {DEMO_PASSWORD}" in text  # the demo says how to sign in
    assert not [s for s in SIGNS_OF_TROUBLE if s in text], text[-5000:]
    assert not left, left
    db = re.search(r"db (\S+hallops\.db)", text)
    assert db is not None and not Path(db.group(1)).parent.exists()
    assert not list(work.glob("hallops-*")), list(work.iterdir())  # the demo's and its broker's temporary folders


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for_health(port: int, proc: subprocess.Popen[str]) -> dict[str, object]:
    answer: dict[str, object] = {}

    def up() -> bool:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            answer.update(httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).json())
        except httpx.HTTPError:
            return False
        return bool(answer.get("broker_connected"))

    wait_until(up, timeout=60, what="the installed gateway's /api/health")
    return answer


def _hold_the_live_stream(port: int, cookies: httpx.Cookies, opened: threading.Event) -> None:
    """A browser tab on the floor view: reads the live stream until the gateway ends it."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", cookies=cookies, timeout=30) as client:
        try:
            with client.stream("GET", "/api/stream") as stream:
                opened.set()
                for _ in stream.iter_lines():
                    pass
        except httpx.HTTPError:  # the connection closed under the read: the stream ended all the same
            pass
