"""`hallops devices schema|add|revoke|list`: the device contract's schema, and the devices' broker users.

Owns the flags and the messages of these commands; `schema` is mounted from `devices.cli`, which owns it. It must not
hold the credential rules (password and ACL files, revocation): `edge.credentials` does that.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from devices import cli as dev_cli
from devices.topics import DeviceType
from edge.audit import Entry
from edge.cli.database import missing, store_of
from edge.cli.terminal import cli_user, say


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `devices` (schema, add, revoke, list)."""
    dev = sub.add_parser("devices", help="the device contract")
    dev_sub = dev.add_subparsers(dest="devices_command", required=True, metavar="COMMAND")
    schema = dev_sub.add_parser("schema", help="write the contract's JSON Schema")
    dev_cli.add_schema_arguments(schema)
    schema.set_defaults(func=dev_cli.run_schema)
    for name, text in (
        ("add", "give a device (or the gateway: --type gateway) its own broker user; prints the password once"),
        ("revoke", "take a device's broker user away"),
        ("list", "devices with broker credentials"),
    ):
        p = dev_sub.add_parser(name, help=text)
        if name != "list":
            p.add_argument("device_id")
            p.add_argument("--password-file", type=Path, required=True, help="mosquitto's password_file")
            p.add_argument("--acl-file", type=Path, required=True, help="mosquitto's acl_file")
        if name == "add":
            p.add_argument("--type", required=True, choices=[*(t.value for t in DeviceType), "gateway"])
            p.add_argument("--hall", required=True)
        p.add_argument("--db", type=Path, required=True, help="the gateway's SQLite file")
        p.set_defaults(func=cmd_device_credentials, action=name)


def cmd_device_credentials(args: argparse.Namespace) -> int:
    from edge.credentials import CredentialError, Registry  # noqa: PLC0415 - keep `hallops --help` fast

    if args.action == "list":
        if missing(args.db, "hallops devices list"):
            return 2
        registry = Registry(args.db, Path("/dev/null"), Path("/dev/null"))
        try:
            for c in registry.list():
                state = "revoked" if c.revoked_at is not None else "active"
                print(f"{c.device_id}\t{c.device_type}\t{c.hall}\t{state}")
        finally:
            registry.close()
        return 0
    store = store_of(args.db, "hallops devices")
    registry = Registry(args.db, args.password_file, args.acl_file)
    try:
        if args.action == "add":
            password = registry.add(args.device_id, args.type, args.hall)
            print(f"username: {args.device_id}\npassword: {password}")
            detail: dict[str, object] = {"type": args.type, "hall": args.hall}
        else:
            known = registry.revoke(args.device_id)
            print(f"revoked {args.device_id}")
            detail = {}
            if not known:
                say(
                    f"hallops devices revoke: {args.device_id} was not in the registry (added after the backup a "
                    f"restore put back?): its line in {args.password_file} was taken out"
                )
                detail = {"registry": "unknown"}
        store.audit.append([Entry(time.time(), cli_user(), f"device.{args.action}", args.device_id, detail)])
    except (CredentialError, ValueError) as exc:
        say(f"hallops devices {args.action}: {exc}")
        return 1
    finally:
        registry.close()
        store.close()
    say("hallops devices: now make mosquitto re-read its files (systemctl reload mosquitto, or SIGHUP)")
    return 0
