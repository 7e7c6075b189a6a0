"""`hallops staffing`: the command-line front of the staffing maths.

Owns the flags and the exit codes — 0 with the recommendation as pretty JSON on stdout, 2 with a one-line message
on stderr for bad input. The numbers come from `rules.staffing.recommend_staffing`; this module only parses and
prints, which keeps `rules/staffing.py` free of I/O. `register` adds the subcommand to `hallops`; `add_arguments`
and `run` are its flags and its body.
"""

from __future__ import annotations

import argparse
import json
import sys

from rules.staffing import recommend_staffing

EXIT_OK = 0
EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `staffing`."""
    staffing = sub.add_parser("staffing", help="how many windows a queue needs (Erlang C / Erlang A), as JSON")
    add_arguments(staffing)
    staffing.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arrivals-per-hour", type=float, required=True, metavar="X", help="arrivals per hour for this queue"
    )
    parser.add_argument("--aht-min", type=float, required=True, metavar="Y", help="mean handling time, minutes")
    parser.add_argument(
        "--target-wait-min", type=float, required=True, metavar="T", help="service-level wait target, minutes"
    )
    parser.add_argument(
        "--service-level",
        type=float,
        required=True,
        metavar="P",
        help="share of arrivals to serve within the target, a fraction (0.8 = 80 %%)",
    )
    parser.add_argument(
        "--patience-min",
        type=float,
        metavar="M",
        help="mean patience before people leave, minutes: use Erlang A (default: Erlang C, nobody leaves)",
    )
    parser.add_argument(
        "--max-abandonment",
        type=float,
        metavar="F",
        help="with --patience-min: also keep the share of people who leave at or below this fraction, e.g. 0.05",
    )
    parser.add_argument("--servers", type=int, metavar="N", help="also report what N open windows achieve")
    parser.add_argument(
        "--max-occupancy",
        type=float,
        default=1.0,
        metavar="F",
        help="also keep occupancy at or below this fraction (default 1: no cap)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        staffing = recommend_staffing(
            args.arrivals_per_hour,
            args.aht_min,
            args.target_wait_min,
            args.service_level,
            patience_min=args.patience_min,
            current_servers=args.servers,
            max_occupancy=args.max_occupancy,
            max_abandonment=args.max_abandonment,
        )
    except ValueError as exc:
        print(f"hallops staffing: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(staffing.to_dict(), indent=2, ensure_ascii=False))
    return EXIT_OK
