"""`hallops certs ca|broker|device`: the hall's CA, the broker's certificate and devices' client certificates.

Owns the flags and the messages of these commands: what was written where, and where each file goes next
(docs/deploy.md §2b walks through it). It must not hold the certificate rules (names, lifetimes, key files):
`edge.certificates` does that.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from devices.topics import DeviceType
from edge.cli.terminal import say

if TYPE_CHECKING:
    from edge.certificates import Pair

CERTS = "/etc/mosquitto/certs"  # where deploy/mosquitto/hallops.conf reads them


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `certs` (ca, broker, device)."""
    certs = sub.add_parser("certs", help="TLS for the hall's broker: its CA, the broker's and devices' certificates")
    certs_sub = certs.add_subparsers(dest="certs_command", required=True, metavar="COMMAND")
    ca = certs_sub.add_parser("ca", help="make the hall's CA (ca.crt for every client, ca.key to keep off the box)")
    ca.add_argument("--hall", required=True, help="the hall id (hall.id), written into the CA's name")
    broker = certs_sub.add_parser("broker", help="make the broker's certificate for the names clients dial")
    broker.add_argument("--host", action="append", default=[], metavar="NAME", help="a DNS name of the box (repeat)")
    broker.add_argument("--ip", action="append", default=[], metavar="ADDR", help="an IP address of the box (repeat)")
    device = certs_sub.add_parser(
        "device", help="make a device's client certificate (its common name is the device's broker user name)"
    )
    device.add_argument("device_type", choices=[*(t.value for t in DeviceType), "gateway"])
    device.add_argument("device_id", help="the device id, as given to `hallops devices add`")
    for name, p in (("ca", ca), ("broker", broker), ("device", device)):
        if name != "ca":
            p.add_argument("--ca", type=Path, required=True, metavar="DIR", help="the folder with ca.crt and ca.key")
        p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write the .crt and .key")
        p.add_argument("--days", type=int, help="validity in days (default: 10 years for the CA, 5 for the others)")
        p.add_argument("--force", action="store_true", help="replace a certificate and key already there")
        p.set_defaults(func=cmd_certs, action=name)


def cmd_certs(args: argparse.Namespace) -> int:
    from edge import certificates  # noqa: PLC0415 - cryptography: keep `hallops --help` fast

    days = {} if args.days is None else {"days": args.days}
    try:
        if args.action == "ca":
            pair = certificates.make_ca(args.out, args.hall, force=args.force, **days)
        elif args.action == "broker":
            pair = certificates.make_broker(args.ca, args.out, args.host, args.ip, force=args.force, **days)
        else:
            pair = certificates.make_device(
                args.ca, args.out, args.device_type, args.device_id, force=args.force, **days
            )
        hall = certificates.hall_of(args.out if args.action == "ca" else args.ca)
    except certificates.CertificateError as exc:
        say(f"hallops certs {args.action}: {exc}")
        return 1
    say(f"wrote {pair.certificate}\nwrote {pair.key} (private: mode 600)")
    say(_next_steps(args, pair, hall))
    return 0


def _next_steps(args: argparse.Namespace, pair: Pair, hall: str) -> str:
    if args.action == "ca":
        return (
            f"the CA of hall {hall}. Give {pair.certificate} to the broker ({CERTS}/hallops-ca.crt) and to every "
            f"client (tls_ca, --tls-ca, --cafile); keep {pair.key} off the box, with whoever makes the certificates"
        )
    if args.action == "broker":
        names = ", ".join([*args.host, *args.ip])
        first = (args.host or args.ip)[0]
        url = f"mqtts://{f'[{first}]' if ':' in first else first}:8883"
        return (
            f"clients may dial the broker as {names} ({url}). On the box:\n"
            f"  sudo install -D -m 644 {args.ca / 'ca.crt'} {CERTS}/hallops-ca.crt\n"
            f"  sudo install -m 644 {pair.certificate} {CERTS}/hallops-broker.crt\n"
            f"  sudo install -m 640 -g mosquitto {pair.key} {CERTS}/hallops-broker.key\n"
            "  sudo systemctl restart mosquitto"
        )
    where = {
        "gateway": "name them in gateway.yaml as mqtt.tls_cert and mqtt.tls_key",
        "camera": "put them in vision's mqtt.cert_dir (they are named after the camera)",
    }.get(args.device_type, f"put them on the device, with {args.ca / 'ca.crt'} to check the broker by")
    return (
        f"next: {where}. {args.device_id} connects as the broker user {args.device_id} to a listener with "
        "`require_certificate true` and `use_identity_as_username true`; its ACL entries come from `hallops devices "
        f"add {args.device_id} --type {args.device_type} --hall {hall} …` (the password it prints is then not needed)"
    )
