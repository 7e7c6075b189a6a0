"""Command-line pieces of `devices`, for the `hallops` CLI in `edge` to mount: `hallops devices schema` and
`hallops simulate` (whose arguments and behaviour live with the simulator, `devices/simulator/cli.py`).

This module owns the arguments and the behaviour of `hallops devices schema [--out DIR]`: print the contract's
JSON Schema, or write it (one file for the whole contract plus one per device type) into a folder. It builds
no top-level parser and never calls `sys.exit`: the caller owns the program.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devices.schema import contract_schema, render, write_schema
from devices.simulator.cli import add_arguments as add_simulate_arguments
from devices.simulator.cli import run as run_simulate


def add_schema_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `hallops devices schema`."""
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=None,
        help="write contract.schema.json and one <device_type>.schema.json per device type into DIR "
        "(created if missing); without it the whole-contract schema is printed to stdout",
    )


def run_schema(args: argparse.Namespace) -> int:
    """Print or write the contract's JSON Schema. Returns the process exit code."""
    out: Path | None = args.out
    if out is None:
        sys.stdout.write(render(contract_schema()))
        return 0
    if out.exists() and not out.is_dir():
        print(f"hallops devices schema: {out} exists and is not a folder", file=sys.stderr)
        return 2
    try:
        written = write_schema(out)
    except OSError as exc:
        print(f"hallops devices schema: cannot write into {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


__all__ = ["add_schema_arguments", "add_simulate_arguments", "run_schema", "run_simulate"]
