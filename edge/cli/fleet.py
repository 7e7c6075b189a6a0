"""`hallops cloud serve --config F`: the fleet view for the city or province office (docs/fleet.md).

Owns its flags and its asyncio main loop; edge/cli/cloud.py lists `register_serve` in its SUBCOMMANDS. The heavy
parts (FastAPI, psycopg) are imported when the command runs, so `hallops --help` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from edge.cli.terminal import say


def register_serve(cloud_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = cloud_sub.add_parser(
        "serve", help="the fleet view: every hall of the city or province, worst first, in a web page"
    )
    serve.add_argument("--config", type=Path, required=True, help="the cloud tier's YAML (its fleet: and postgres:)")
    serve.set_defaults(func=cmd_cloud_serve)


def cmd_cloud_serve(args: argparse.Namespace) -> int:
    from edge.fleet.serve import load, serve  # noqa: PLC0415 - keep `hallops --help` fast

    cloud, fleet = load(args.config)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await serve(cloud, fleet, stop, on_ready=lambda url: say(f"hallops cloud serve: {url}"))

    return asyncio.run(main())
