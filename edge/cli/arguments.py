"""Value types for the `hallops` flags that more than one command takes: `host_port` and `positive`.

Each turns one command-line string into a value or raises `argparse.ArgumentTypeError` with a plain sentence, which
argparse prints under the usage (exit 2). They must not read files or reach the network.
"""

from __future__ import annotations

import argparse


def host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host.strip("[]") or "127.0.0.1", int(port)


def positive(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if v <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return v
