"""The `hallops` command (`python -m edge.cli` is the same program).

Its commands, each declared with `register(subparsers)` next to its `cmd_*` functions in one module of this package:

- `run.py`: `gateway`, `simulate`, `vision` (and `vision snapshot`), `demo`;
- `users.py`: `users hash / add / list / remove / passwd`, `tokens create`;
- `audit.py`: `audit verify / list`;
- `rules.py`: `rules validate / keygen / sign / apply / push / versions / add / activate / rollback / diff /
  shadow / backtest`;
- `staffing.py`: `staffing`;
- `devices.py`: `devices schema / add / revoke / list`;
- `setup.py`: `setup` (a box after installing the package: first administrator, broker certificates and user, checks);
- `certs.py`: `certs ca / broker / device` (TLS for the hall's broker);
- `cloud.py`: `cloud consume / ratings-export` (the city/province tier; `cloud.SUBCOMMANDS` takes more).
- `fleet.py`: `cloud serve`, the fleet view (docs/fleet.md).
- `backup.py`: `backup`, `restore` (docs/backup.md).
- `db.py`: `db vacuum` (the file rewritten once so that it gives freed space back).

`terminal.py` (messages, the password prompt, the audit actor), `arguments.py` (flag value types) and `database.py`
(the gateway's SQLite file, refused when missing) serve them. This module owns `main()`: the parser assembled from
those modules, the logging set-up and the mapping of errors to exit codes and messages. It must not hold any
command's own work.

Every file a command makes is its user's only (umask 077) unless the command gives it a mode of its own (a
certificate 0644, mosquitto's password and ACL files 0640 for the `mosquitto` group): the database, its -wal and
-shm, keys and reports hold what others on the box must not read.

Every subcommand prints what it is doing on stderr, turns bad input into a list of problems with field paths
(exit 2), refuses a database file that cannot be used (empty, not a database, truncated, damaged, locked: the path,
the finding and what to do, exit 3; docs/deploy.md) and stops cleanly on Ctrl-C (exit 130 for an interrupted run, 0
for a server told to stop).

Imports: what loads the configuration models, the rule language, the web server, the gateway, cryptography or
OpenCV is imported inside the command that needs it (`# noqa: PLC0415`). Every `hallops` run builds the whole
parser, so importing those at the top would make `hallops --help` and the light commands pay about a second for
them. Everything else is imported at the top.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from devices.errors import ConfigError
from edge.cli import audit, backup, certs, cloud, db, devices, rules, run, setup, staffing, users
from edge.cli.terminal import say
from edge.store import StorageError

__all__ = ["build_parser", "main"]

EXIT_CONFIG = 2  # bad configuration or input, reported as `hallops: <problems with field paths>`
EXIT_STORAGE = 3  # the gateway's SQLite file cannot be used: `hallops: the database PATH <finding>. <advice>`
EXIT_INTERRUPTED = 130  # Ctrl-C outside a command's own stop handling
PRIVATE_UMASK = 0o077  # files made without a mode of their own: for their owner only


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hallops", description="On-premises controller for government service halls (政务服务大厅)."
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # the order `hallops --help` lists them in
    for module in (setup, run, users, audit, rules, staffing, devices, certs, cloud, backup, db):
        module.register(sub)
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("amqtt", "transitions", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level)
    previous = os.umask(PRIVATE_UMASK)  # given back at the end: tests and scripts call main() in their own process
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        say(f"hallops: {exc}")
        return EXIT_CONFIG
    except StorageError as exc:  # the message says what to do: a traceback would hide it
        say(f"hallops: {exc}")
        return EXIT_STORAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        os.umask(previous)
    return result
