"""`hallops gateway`, `simulate`, `vision` and `demo`: the commands that run until they are stopped.

Owns their flags, their asyncio main loops with Ctrl-C and SIGTERM handling (a first signal stops cleanly, a second
interrupts hard), and the demo's wiring of broker, simulator and gateway. It must not hold the gateway's, the
simulator's or the cameras' own logic: `edge.server`, `devices.simulator` and `vision` do that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from devices import cli as devices_cli
from devices.errors import ConfigError
from devices.simulator import load_scenario, run_simulation
from edge.broker import EmbeddedBroker
from edge.cli.arguments import host_port, positive
from edge.cli.terminal import say


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `gateway`, `simulate`, `vision` and `demo`, in that order."""
    gw = sub.add_parser("gateway", help="run the edge gateway: MQTT ingest, hall state, HTTP API")
    gw.add_argument("--config", type=Path, help="YAML configuration (see docs/configuration.md)")
    gw.add_argument("--broker", help="mqtt://HOST:PORT (overrides mqtt.url)")
    gw.add_argument("--hall", help="hall id (overrides hall.id)")
    gw.add_argument("--db", type=Path, help="SQLite file (overrides storage.path)")
    gw.add_argument("--http", type=host_port, help="HOST:PORT for the API and page (overrides http.*)")
    gw.add_argument("--clock", choices=["system", "device"], help="system clock, or follow device timestamps")
    gw.add_argument("--speed", type=positive, help="with --clock device: hall seconds per wall second")
    gw.set_defaults(func=cmd_gateway)

    sim = sub.add_parser("simulate", help="simulate a hall's devices on an MQTT broker")
    devices_cli.add_simulate_arguments(sim)
    sim.set_defaults(func=devices_cli.run_simulate)

    vis = sub.add_parser("vision", help="count people per zone from the cameras and publish it (see docs/vision.md)")
    vis.set_defaults(func=cmd_vision)
    _vision_arguments(vis)

    demo = sub.add_parser("demo", help="broker + simulated hall + gateway + live page, in one command")
    demo.add_argument("--scenario", default="county", help="county, city, or a scenario YAML file")
    demo.add_argument("--speed", type=positive, default=30.0, help="simulated seconds per real second (30)")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument(
        "--http",
        type=host_port,
        default=("127.0.0.1", 8080),
        help="HOST:PORT (127.0.0.1:8080); on an address other than loopback each user gets a random password",
    )
    demo.add_argument("--db", type=Path, help="SQLite file (default: a new temporary one)")
    demo.set_defaults(func=cmd_demo)


def _run(main: Callable[[asyncio.Event], Coroutine[Any, Any, int]]) -> int:
    """Run `main(stop)` with Ctrl-C and SIGTERM setting `stop` (a second Ctrl-C interrupts hard)."""

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stopper(stop, loop, sig))
        return await main(stop)

    return asyncio.run(runner())  # a ConfigError raised inside is reported by `edge.cli.main` (exit 2)


def _stopper(stop: asyncio.Event, loop: asyncio.AbstractEventLoop, sig: int) -> Callable[[], None]:
    def handler() -> None:
        if stop.is_set():
            loop.remove_signal_handler(sig)
            signal.raise_signal(sig)
        say("hallops: stopping…")
        stop.set()

    return handler


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel and wait. Re-cancels: on Python 3.11 `asyncio.wait_for` (used inside aiomqtt) can swallow a
    cancellation that lands just as its inner future completes."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


# ---------------------------------------------------------------------------------------------- gateway


def _gateway_overrides(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    http = args.http
    return {
        "mqtt": {"url": args.broker},
        "hall": {"id": args.hall},
        "storage": {"path": str(args.db) if args.db else None},
        "http": {"host": http[0], "port": http[1]} if http else {},
        "clock": {"mode": args.clock, "speed": args.speed},
    }


def cmd_gateway(args: argparse.Namespace) -> int:
    from edge.config import load_config, unreadable_secrets  # noqa: PLC0415 - keep `hallops --help` fast
    from edge.server import serve  # noqa: PLC0415

    try:
        cfg = load_config(args.config, _gateway_overrides(args))
        if problems := unreadable_secrets(cfg):
            raise ConfigError(str(args.config or "the configuration"), problems)
    except ConfigError as exc:
        say(f"hallops gateway: {exc}")
        return 2

    def ready(gateway: object, url: str) -> None:
        say(f"hallops gateway: hall {cfg.hall.id} · broker {cfg.mqtt.url} · db {cfg.storage.path} · {url}")

    async def main(stop: asyncio.Event) -> int:
        code = await serve(cfg, stop, on_ready=ready)
        if code:
            say("hallops gateway: stopped because a background task died (see the log); exit 1 so that it restarts")
        return code

    return _run(main)


# ---------------------------------------------------------------------------------------------- vision


def _vision_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="vision YAML (required; see docs/vision.md)")
    sub = parser.add_subparsers(dest="vision_command", metavar="COMMAND")
    snap = sub.add_parser("snapshot", help="write one frame with the zones and the people found (blurred) drawn on it")
    snap.add_argument("camera", help="the camera id, as in the config")
    snap.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="vision YAML (or before `snapshot`)")
    snap.add_argument("--out", type=Path, help="JPEG to write (default: snapshot-CAMERA.jpg)")


def cmd_vision(args: argparse.Namespace) -> int:
    if args.log_level != "DEBUG":  # a camera being retried would print OpenCV's and FFmpeg's own lines every time
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # quiet
    from vision import cli as vision_cli  # noqa: PLC0415 - OpenCV and ONNX Runtime load only for this command

    return vision_cli.run(args)


# ---------------------------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.demo import DEMO_USERS, demo_day, demo_passwords, loopback, scenario_config  # noqa: PLC0415
    from edge.server import serve  # noqa: PLC0415

    try:
        scenario = load_scenario(args.scenario)
    except ConfigError as exc:
        say(f"hallops demo: {exc}")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="hallops-demo-"))
    db = args.db or workdir / "hallops.db"

    async def main(stop: asyncio.Event) -> int:
        say("hallops demo: starting the broker…")
        async with EmbeddedBroker() as broker:
            say(f"hallops demo: {broker.kind} broker on {broker.url}")
            passwords = demo_passwords(args.http[0])
            cfg = scenario_config(scenario, broker.url, db, args.http, args.speed, users=DEMO_USERS, password=passwords)
            gateway_ready = asyncio.Event()

            def ready(gateway: object, url: str) -> None:
                say(f"hallops demo: gateway for {scenario.hall.name} ({scenario.hall.name_en}), db {db}")
                say(f"hallops demo: open {url}  —  Ctrl-C stops everything")
                if loopback(args.http[0]):
                    accounts = ", ".join(f"{name} ({role})" for name, (role, _) in DEMO_USERS.items())
                    say(f"hallops demo: sign in as {accounts}; password: {passwords['manager']}")
                else:  # shown here only: the published demo password would open the page to the whole LAN
                    say(f"hallops demo: on {args.http[0]} the demo is reachable from the LAN; each user has a new")
                    say("hallops demo: random password, shown only now:")
                    for name, (role, _) in DEMO_USERS.items():
                        say(f"hallops demo:   {name} ({role}): {passwords[name]}")
                gateway_ready.set()

            gateway = asyncio.create_task(serve(cfg, stop, on_ready=ready))
            waiter = asyncio.create_task(gateway_ready.wait())
            await asyncio.wait({gateway, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if gateway.done():
                waiter.cancel()
                await gateway  # raises the start-up error
                return 1
            start, end = demo_day(scenario, datetime.now(ZoneInfo(scenario.hall.timezone)).date())
            say(f"hallops demo: simulating {start:%A %Y-%m-%d} {start:%H:%M}–{end:%H:%M} at {args.speed:g}× speed")
            sim = asyncio.create_task(
                run_simulation(
                    scenario,
                    broker.url,
                    speed=args.speed,
                    seed=args.seed,
                    start=start,
                    end=end,
                    progress=lambda line: say(f"simulator: {line}"),
                    obey_commands=True,
                )
            )
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({sim, stopper, gateway}, return_when=asyncio.FIRST_COMPLETED)
            if sim.done() and not stop.is_set():
                if sim.exception() is not None:
                    say(f"hallops demo: the simulator failed: {sim.exception()}")
                else:
                    say("hallops demo: the simulated day is over; the page stays up — Ctrl-C to stop")
                await asyncio.wait({stopper, gateway}, return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            await _cancel(sim)
            code = await gateway
            stopper.cancel()
        say("hallops demo: stopped" if not code else "hallops demo: stopped because a gateway task died (see the log)")
        return code

    try:
        return _run(main)
    finally:  # the demo's database and broker files live only as long as the demo
        shutil.rmtree(workdir, ignore_errors=True)
