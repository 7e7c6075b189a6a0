"""`hallops cloud consume|ratings-export`: the city/province tier's commands (docs/sync.md).

- `consume --config F`: one consumer instance (cloud_sync/consume.py) until Ctrl-C or SIGTERM (exit 0); run as
  many as the load needs, they share the durable JetStream consumer.
- `ratings-export --config F --day YYYY-MM-DD [--province P] [--out FILE]`: the day's 好差评 ratings in the shape a
  provincial system takes (docs/sync.md, "Ratings export"), on stdout or into a file.

Owns their flags and their asyncio main loops. `SUBCOMMANDS` lists the registrars of `hallops cloud …`: another
module's command under `cloud` (the fleet view's `serve`) adds its own `register(cloud_sub)` there.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import signal
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from devices.errors import ConfigError, Problem
from edge.cli.terminal import say


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a day YYYY-MM-DD") from None


def register_consume(cloud_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consume = cloud_sub.add_parser(
        "consume", help="commit the halls' batches from the JetStream stream to PostgreSQL and the time series"
    )
    consume.add_argument("--config", type=Path, required=True, help="the cloud tier's YAML (deploy/cloud/)")
    consume.set_defaults(func=cmd_cloud_consume)
    export = cloud_sub.add_parser("ratings-export", help="a day's 好差评 ratings for the provincial system (JSON)")
    export.add_argument("--config", type=Path, required=True, help="the cloud tier's YAML (deploy/cloud/)")
    export.add_argument("--day", type=_day, required=True, help="YYYY-MM-DD, in the province's time zone")
    export.add_argument("--province", help="the ratings_export entry (default: the only one)")
    export.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    export.set_defaults(func=cmd_cloud_ratings_export)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [register_consume]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `cloud` (consume, ratings-export, and whatever `SUBCOMMANDS` lists)."""
    cloud = sub.add_parser("cloud", help="the city/province tier: consumers of the halls' uplink")
    cloud_sub = cloud.add_subparsers(dest="cloud_command", required=True, metavar="COMMAND")
    for registrar in SUBCOMMANDS:
        registrar(cloud_sub)


def cmd_cloud_consume(args: argparse.Namespace) -> int:
    from cloud_sync.consume import Consumer  # noqa: PLC0415 - keep `hallops --help` fast
    from cloud_sync.settings import load_settings  # noqa: PLC0415

    cfg = load_settings(args.config)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>`: every thread's stack on stderr, for a stuck instance

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stopper(stop, loop, sig))
        consumer = Consumer(cfg)
        await consumer.run(stop)
        return 0

    say(f"hallops cloud consume: {args.config}")
    return asyncio.run(main())


def _stopper(stop: asyncio.Event, loop: asyncio.AbstractEventLoop, sig: int) -> Callable[[], None]:
    def handler() -> None:
        if stop.is_set():  # a second signal: stop hard
            loop.remove_signal_handler(sig)
            signal.raise_signal(sig)
        say("hallops: stopping…")
        stop.set()

    return handler


def cmd_cloud_ratings_export(args: argparse.Namespace) -> int:
    import psycopg  # noqa: PLC0415

    from cloud_sync.ledger import export_ratings  # noqa: PLC0415
    from cloud_sync.settings import load_settings  # noqa: PLC0415

    cfg = load_settings(args.config)
    profiles = cfg.ratings_export
    province = args.province
    if province is None:
        if len(profiles) != 1:
            names = ", ".join(sorted(profiles)) or "none configured"
            raise ConfigError("--province", [Problem("province", f"name one of the ratings_export entries ({names})")])
        province = next(iter(profiles))
    if province not in profiles:
        raise ConfigError(str(args.config), [Problem(f"ratings_export.{province}", "no such entry")])

    async def main() -> dict[str, object]:
        pg = cfg.postgres
        password = pg.password()
        dsn = psycopg.conninfo.make_conninfo(pg.dsn, password=password) if password else pg.dsn
        async with await psycopg.AsyncConnection.connect(dsn, connect_timeout=10) as conn:
            return await export_ratings(conn, province, profiles[province], args.day, time.time())

    doc = asyncio.run(main())
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        say(f"hallops cloud ratings-export: {doc['count']} ratings of {args.day} written to {args.out}")
    return 0


# --- issue 21 · fleet: `hallops cloud serve` (edge/cli/fleet.py, docs/fleet.md) -------------------------------------
from edge.cli.fleet import register_serve  # noqa: E402 - the fleet's part, kept apart from consume's

SUBCOMMANDS.append(register_serve)
