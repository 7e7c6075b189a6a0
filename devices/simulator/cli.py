"""`hallops simulate`: the command-line front of the hall simulator.

Owns the flags, their parsing (ISO-8601 start, `2h`/`90m` durations) and the exit codes: 0 done, 1 the broker
failed, 2 bad scenario or flags, 130 interrupted. The `hallops` entry point adds the subcommand with
`add_arguments` and calls `run`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from devices.errors import ConfigError
from devices.simulator.publisher import default_window, run_simulation
from devices.simulator.scenario import load_scenario, parse_duration

EXIT_OK = 0
EXIT_BROKER = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        required=True,
        metavar="FILE|county|city",
        help="scenario YAML, or the name of a packaged one (county, city)",
    )
    parser.add_argument(
        "--broker", required=True, metavar="URL", help="MQTT broker, mqtt://HOST:PORT (mqtts:// for TLS)"
    )
    parser.add_argument(
        "--tls-ca", type=Path, metavar="FILE", help="CA certificate(s) of the broker (PEM); implies TLS"
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="N",
        help="simulated seconds per wall second (default 1; 0 or inf: as fast as possible)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same day")
    parser.add_argument(
        "--start",
        metavar="ISO-8601",
        help="simulated start, e.g. 2025-01-13T08:30 (hall time zone unless an offset is given; "
        "default: today at opening time)",
    )
    parser.add_argument(
        "--duration", metavar="2h|90m|…", help="how much simulated time to run (default: until closing time)"
    )
    parser.add_argument("--truth", type=Path, metavar="FILE", help="write the ground truth JSON here at the end")
    parser.add_argument(
        "--obey-commands",
        action="store_true",
        help="carry out what the gateway assigns: window.assign to a qms opens the window with its services, "
        "moving the named staff member there (an AB-post cover); a nudge opens a closed window",
    )
    parser.add_argument(
        "--no-ack",
        action="append",
        default=[],
        metavar="TYPE/ID",
        help="this device never acknowledges a command, e.g. call_screen/CS-A (repeatable; the others answer each one)",
    )


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0 or math.isnan(value):
        raise argparse.ArgumentTypeError("speed must be ≥ 0 (0 or inf: as fast as possible)")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
    except ConfigError as exc:
        print(f"error: scenario {exc.source} is invalid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.tls_ca is not None and not args.tls_ca.is_file():
        print(f"error: --tls-ca: no such file: {args.tls_ca}", file=sys.stderr)
        return EXIT_USAGE
    zone = ZoneInfo(scenario.hall.timezone)
    start: datetime | None = None
    end: datetime | None = None
    try:
        if args.start:
            start = datetime.fromisoformat(args.start)
            if start.tzinfo is None:
                start = start.replace(tzinfo=zone)
        if args.duration:
            if start is None:
                start = default_window(scenario, None, None)[0]
            end = start + parse_duration(args.duration)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def report(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        asyncio.run(
            run_simulation(
                scenario,
                args.broker,
                speed=args.speed,
                seed=args.seed,
                start=start,
                end=end,
                truth_path=args.truth,
                progress=report,
                obey_commands=args.obey_commands,
                no_ack=args.no_ack,
                tls_ca=args.tls_ca,
            )
        )
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConnectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BROKER
    return EXIT_OK
