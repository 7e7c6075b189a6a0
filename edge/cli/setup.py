"""`hallops setup`: make a freshly installed box ready to run, once, as root — and again at any time (idempotent).

Steps, each skipped when its result is already there: the gateway's configuration (`gateway.yaml` from the example,
pointed at the data folder and the gateway's broker user); the first administrator of the web UI and API; the hall's
CA and the broker's TLS certificate; the gateway's broker user and its password file; the ownership and modes of the
configuration and data folders. Then the box is checked (`edge.boxcheck`: free disk, time sync, the ports it needs,
Python) and the next steps are printed. Every path can be moved with an option, so the command also runs against
temporary folders as an ordinary user (tests, a trial).

Owns the flags, the order of the steps and their messages. It must not hold the account, certificate or credential
rules (`edge.auth`, `edge.certificates`, `edge.credentials`) nor the checks' verdicts (`edge.boxcheck`).

Exit status: 0 the box is set up (warnings allowed); 1 a step or a check failed (the message says what to do);
2 bad input (no hall named for a new configuration, a configuration with errors).
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devices.errors import ConfigError
from devices.validation import read_yaml
from edge import boxcheck
from edge.audit import Entry
from edge.cli.terminal import cli_user, read_password, say

if TYPE_CHECKING:
    from edge.auth import Account

PACKAGED_EXAMPLE = Path("/usr/share/hallops/gateway.example.yaml")  # where the .deb puts it (packaging/nfpm.yaml)
SOURCE_EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "gateway.example.yaml"  # in a git clone
GATEWAY_USER = "hallops-gateway"  # the gateway's broker user name, as docs/deploy.md names it
BROKER_CONF = "hallops.conf"  # in --broker-etc: the hardened broker configuration the package installs
BROKER_GROUP = "mosquitto"
BROKER_CERT_NAME = "hallops-broker"  # in --broker-etc/certs, beside hallops-ca.crt: never the admin's own files


@dataclass(frozen=True, slots=True)
class Paths:
    etc: Path  # /etc/hallops
    data: Path  # /var/lib/hallops
    broker_etc: Path  # /etc/mosquitto

    @property
    def config(self) -> Path:
        return self.etc / "gateway.yaml"

    @property
    def mqtt_password(self) -> Path:
        return self.etc / "mqtt-password"

    @property
    def ca(self) -> Path:
        return self.etc / "ca"

    @property
    def certs(self) -> Path:
        return self.broker_etc / "certs"

    @property
    def broker_ca(self) -> Path:
        return self.certs / "hallops-ca.crt"

    @property
    def broker_cert(self) -> Path:
        return self.certs / f"{BROKER_CERT_NAME}.crt"

    @property
    def broker_key(self) -> Path:
        return self.certs / f"{BROKER_CERT_NAME}.key"

    @property
    def passwd(self) -> Path:
        return self.broker_etc / "hallops.passwd"

    @property
    def acl(self) -> Path:
        return self.broker_etc / "hallops.acl"


@dataclass(frozen=True, slots=True)
class Owner:
    name: str
    uid: int
    gid: int


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `setup`."""
    p = sub.add_parser(
        "setup",
        help="after installing, as root: the first administrator, the broker's certificates and users, checks",
        description="Set up this box after installing the package (run as root; safe to run again).",
    )
    p.add_argument("--hall", help="the hall id for a new gateway.yaml (as in the device topics hall/ID/…)")
    p.add_argument("--admin", default="admin", help="the first administrator's user name (default admin)")
    p.add_argument(
        "--admin-password-file",
        type=Path,
        metavar="FILE",
        help="read the administrator's password from FILE's first line (default: ask for it)",
    )
    p.add_argument("--host", action="append", default=[], metavar="NAME", help="a name devices dial the box by")
    p.add_argument("--ip", action="append", default=[], metavar="ADDR", help="an address devices dial the box by")
    p.add_argument(
        "--renew-broker-cert", action="store_true", help="make the broker's certificate again (new names or addresses)"
    )
    p.add_argument("--etc", type=Path, default=Path("/etc/hallops"), help="configuration folder (/etc/hallops)")
    p.add_argument("--data", type=Path, default=Path("/var/lib/hallops"), help="data folder (/var/lib/hallops)")
    p.add_argument("--broker-etc", type=Path, default=Path("/etc/mosquitto"), help="the broker's folder")
    p.add_argument("--user", default="hallops", help="the user the services run as (hallops)")
    p.add_argument("--example", type=Path, help="the example gateway.yaml to start from (default: the package's)")
    p.add_argument(
        "--min-free-gb",
        type=float,
        default=boxcheck.MIN_FREE_GB,
        help=f"warn when the data folder has less free space (default {boxcheck.MIN_FREE_GB:g} GB)",
    )
    p.set_defaults(func=cmd_setup)


def cmd_setup(args: argparse.Namespace) -> int:
    paths = Paths(args.etc.absolute(), args.data.absolute(), args.broker_etc.absolute())
    try:
        entry = pwd.getpwnam(args.user)
    except KeyError:
        say(f"hallops setup: no user {args.user!r} on this box (the package makes hallops; or name one with --user)")
        return 2
    owner = Owner(args.user, entry.pw_uid, entry.pw_gid)
    say(f"hallops setup: configuration {paths.etc}, data {paths.data}, broker {paths.broker_etc}, user {owner.name}")
    try:
        return _set_up(args, paths, owner)
    except OSError as exc:  # a folder that cannot be made or written: not root, a file in the way, a read-only disk
        where = exc.filename or paths.etc
        say(
            f"hallops setup: {where}: {exc.strerror or exc}. Run it as root (sudo hallops setup), or give --etc, "
            "--data and --broker-etc folders you may write"
        )
        return 1


def _set_up(args: argparse.Namespace, paths: Paths, owner: Owner) -> int:
    hall = _configuration(paths, owner, args.hall, args.example)
    if hall is None:
        return 2
    from edge.config import load_config  # noqa: PLC0415 - keep `hallops --help` fast

    try:
        cfg = load_config(paths.config)
    except ConfigError as exc:
        say(f"hallops setup: {paths.config} has errors; fix them and run hallops setup again:\n{exc}")
        return 2
    db = cfg.storage.path if cfg.storage.path.is_absolute() else paths.data / cfg.storage.path
    ok = _administrator(db, cfg.accounts(), args.admin, args.admin_password_file)
    ok = _certificates(paths, hall, args.host, args.ip, renew=args.renew_broker_cert) and ok
    ok = _broker_user(paths, db, hall, owner) and ok
    _ownership(paths, db, owner)
    listeners = boxcheck.broker_listeners(paths.broker_etc / BROKER_CONF) or [("127.0.0.1", 1883), ("0.0.0.0", 8883)]
    findings = [
        boxcheck.python(),
        boxcheck.disk(paths.data, args.min_free_gb),
        boxcheck.time_sync(),
        *(boxcheck.port(h, n, "the broker", "hallops-mosquitto") for h, n in listeners),
        boxcheck.port(cfg.http.host, cfg.http.port, "the gateway's web UI and API", "hallops-gateway"),
    ]
    say("hallops setup: checks of this box")
    for finding in findings:
        say(finding.line())
    failed = not ok or any(f.status is boxcheck.Status.FAILED for f in findings)
    say(_next_steps(paths, cfg.http.port, failed))
    return 1 if failed else 0


def _configuration(paths: Paths, owner: Owner, hall: str | None, example: Path | None) -> str | None:
    """gateway.yaml: kept if there; else made from the example for `hall`. The hall id, or None (said why)."""
    _folder(paths.etc, 0o750, owner, private=False)
    if paths.config.exists():
        raw = read_yaml(paths.config)
        found = raw.get("hall", {}).get("id") if isinstance(raw, dict) and isinstance(raw.get("hall"), dict) else None
        if not isinstance(found, str):
            say(f"hallops setup: {paths.config} names no hall.id: add it and run hallops setup again")
            return None
        if hall is not None and hall != found:
            say(f"hallops setup: {paths.config} is for hall {found}, not {hall}: edit hall.id there instead")
            return None
        say(f"  config         {paths.config}: kept (hall {found})")
        return found
    if hall is None:
        say("hallops setup: name the hall for the new configuration: hallops setup --hall ID (as in hall/ID/…)")
        return None
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", hall):
        say(f"hallops setup: --hall {hall!r}: letters, digits, . _ - (up to 64), as in the device topics")
        return None
    source = example or (PACKAGED_EXAMPLE if PACKAGED_EXAMPLE.exists() else SOURCE_EXAMPLE)
    text = _fill_example(source.read_text(encoding="utf-8"), paths, hall)
    if text is None:
        say(f"hallops setup: {source} is not the example this command knows: write {paths.config} (docs/deploy.md §3)")
        return None
    paths.config.write_text(text, encoding="utf-8")
    _own(paths.config, 0o640, owner, private=False)
    say(f"  config         {paths.config}: written from {source} for hall {hall}; edit services, windows, devices")
    return hall


def _fill_example(text: str, paths: Paths, hall: str) -> str | None:
    """The example with this box's hall, data folder and the gateway's broker user; None unless every line to change
    is found (a configuration half made would start a gateway that cannot reach its broker)."""
    changes = [
        (r"^(  id: )county-01(\s)", rf"\g<1>{hall}\g<2>"),
        (r"^(  client_id: )hallops-county-01(\s)", rf"\g<1>hallops-{hall}\g<2>"),
        (r"^  # (username: )hallops-gateway( +#)", rf"  \g<1>{GATEWAY_USER}\g<2>"),
        (r"^  # (password_file: )/etc/hallops/mqtt-password( +#)", rf"  \g<1>{paths.mqtt_password}\g<2>"),
        (r"^(  path: )/var/lib/hallops/hallops\.db(\s)", rf"\g<1>{paths.data / 'hallops.db'}\g<2>"),
    ]
    for pattern, replacement in changes:
        text, n = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
        if n != 1:
            return None
    return text


def _administrator(db: Path, configured: Mapping[str, Account], name: str, password_file: Path | None) -> bool:
    from edge.auth import Auth, Role, UserError  # noqa: PLC0415
    from edge.cli.database import store_of  # noqa: PLC0415

    db.parent.mkdir(parents=True, exist_ok=True)
    store = store_of(db, "hallops setup")  # creates the file on a first start, like the gateway would
    auth = Auth(configured, db)
    try:
        admins = [a.user.name for a, _ in auth.accounts() if a.user.role is Role.ADMINISTRATOR]
        if admins:
            say(f"  administrator  {', '.join(admins)}: there already")
            return True
        password = _admin_password(password_file)
        if password is None:
            return False
        try:
            auth.add_user(name, Role.ADMINISTRATOR, password)
        except UserError as exc:
            say(f"hallops setup: the administrator {name}: {exc}")
            return False
        store.audit.append([Entry(time.time(), cli_user(), "user.add", name, {"role": Role.ADMINISTRATOR.value})])
        say(f"  administrator  {name}: added to {db}; sign in with it on the web UI")
        return True
    finally:
        auth.close()
        store.close()


def _admin_password(password_file: Path | None) -> str | None:
    if password_file is None:
        from edge.passwords import MIN_DISTINCT_CHARS, MIN_PASSWORD_CHARS  # noqa: PLC0415

        say(
            f"  administrator  the first administrator's password (at least {MIN_PASSWORD_CHARS} characters, "
            f"{MIN_DISTINCT_CHARS} different ones, not a common one, not the user name):"
        )
        return read_password("hallops setup")
    try:
        password = password_file.read_text(encoding="utf-8").split("\n", 1)[0].rstrip("\r")
    except (OSError, UnicodeDecodeError) as exc:
        say(f"hallops setup: --admin-password-file {password_file}: cannot be read ({exc})")
        return None
    if not password:
        say(f"hallops setup: --admin-password-file {password_file}: its first line is empty")
        return None
    return password


def _certificates(paths: Paths, hall: str, hosts: list[str], ips: list[str], *, renew: bool) -> bool:
    """The hall's CA in --etc/ca (ca.key private), the broker's certificate and the CA's copy where mosquitto reads
    them (deploy/mosquitto/hallops.conf), under hallops' own names (`hallops-ca.crt`, `hallops-broker.crt`, `.key`):
    the key readable by the mosquitto group only. A file of those names that setup did not make (a different CA, a
    certificate the hall's CA did not sign) is left as it is and the step fails with a sentence."""
    from edge import certificates  # noqa: PLC0415 - cryptography

    ca_cert = paths.ca / "ca.crt"
    try:
        if ca_cert.exists():
            made = certificates.hall_of(paths.ca)
            if made != hall:
                say(f"hallops setup: the CA in {paths.ca} is hall {made}'s, not {hall}'s: move it aside first")
                return False
            say(f"  CA             {ca_cert}: kept")
        else:
            pair = certificates.make_ca(paths.ca, hall)
            say(f"  CA             {pair.certificate}: made; {pair.key} signs every certificate of the hall:")
            say("                 keep a copy off the box (the hall's password safe) and in the backups")
        for folder in (paths.broker_etc, paths.certs):  # mosquitto, as its own user, must enter them
            if not folder.exists():
                folder.mkdir()
                os.chmod(folder, 0o755)
        if not _copy_ca(ca_cert, paths.broker_ca):
            return False
        if not renew and not paths.broker_cert.exists() and not paths.broker_key.exists():
            _adopt_earlier_certificate(paths, ca_cert)
        if paths.broker_cert.exists() and not renew:
            if not certificates.issued_by(paths.broker_cert, ca_cert):
                say(
                    f"hallops setup: {paths.broker_cert} was not signed by the hall's CA {ca_cert}: devices would "
                    "not trust the broker. Move it aside, or make it again with --renew-broker-cert"
                )
                return False
            say(f"  broker TLS     {paths.broker_cert}: kept (--renew-broker-cert to make it again)")
        else:
            names = hosts or [socket.gethostname(), "localhost"]
            addresses = ips or ["127.0.0.1"]
            pair = certificates.make_broker(paths.ca, paths.certs, names, addresses, force=renew, name=BROKER_CERT_NAME)
            say(f"  broker TLS     {pair.certificate}: made for {', '.join([*names, *addresses])}")
            if not hosts and not ips:
                say("                 devices must dial one of these: add --host NAME / --ip ADDR --renew-broker-cert")
        _broker_readable(paths.broker_key)
    except certificates.CertificateError as exc:
        say(f"hallops setup: {exc}")
        return False
    return True


def _adopt_earlier_certificate(paths: Paths, ca_cert: Path) -> None:
    """Releases before hallops' own names wrote certs/broker.crt and broker.key: when that certificate is the hall
    CA's and the key its own, a copy under the new names keeps the names and addresses the devices dial. The old
    files stay where they are (the broker no longer reads them)."""
    from edge import certificates  # noqa: PLC0415

    old_cert, old_key = paths.certs / "broker.crt", paths.certs / "broker.key"
    if not (old_cert.is_file() and old_key.is_file()):
        return
    if not (certificates.issued_by(old_cert, ca_cert) and certificates.is_key_of(old_key, old_cert)):
        return  # the admin's own: not ours to take
    fd = os.open(paths.broker_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(old_key.read_bytes())
    fd = os.open(paths.broker_cert, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(old_cert.read_bytes())
    os.chmod(paths.broker_cert, 0o644)
    say(f"  broker TLS     {paths.broker_cert}: copied from {old_cert} (the hall CA's, made by an earlier release)")


def _copy_ca(ca_cert: Path, copy: Path) -> bool:
    """The CA's certificate where mosquitto reads it; a different file already there is not replaced."""
    data = ca_cert.read_bytes()
    if copy.exists():
        if copy.read_bytes() != data:
            say(
                f"hallops setup: {copy} is there and is not the hall's CA {ca_cert}: left as it is. Move it aside "
                "(and the broker's certificate beside it), then run hallops setup again"
            )
            return False
        say(f"  broker CA      {copy}: kept")
        return True
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(copy, 0o644)
    say(f"  broker CA      {copy}: copied from {ca_cert}")
    return True


def _broker_readable(key: Path) -> None:
    """The broker's key: root:mosquitto 0640 where the group exists (mosquitto reads it as its own user)."""
    try:
        gid = grp.getgrnam(BROKER_GROUP).gr_gid
    except KeyError:
        return  # no mosquitto on this box (a trial): the key stays 0600
    if os.geteuid() == 0:
        os.chown(key, 0, gid)
        os.chmod(key, 0o640)


def _broker_user(paths: Paths, db: Path, hall: str, owner: Owner) -> bool:
    """The gateway's broker user (docs/deploy.md §2) and its password in --etc/mqtt-password, private to the user."""
    from edge.cli.database import store_of  # noqa: PLC0415
    from edge.credentials import GATEWAY, CredentialError, Registry  # noqa: PLC0415

    if not paths.broker_etc.exists():  # Debian's mosquitto makes it; a trial's folder must be open to the broker too
        paths.broker_etc.mkdir(parents=True)
        os.chmod(paths.broker_etc, 0o755)
    store = store_of(db, "hallops setup")
    registry = Registry(db, paths.passwd, paths.acl)
    try:
        active = [c for c in registry.list() if c.device_id == GATEWAY_USER and c.revoked_at is None]
        if active and paths.mqtt_password.exists() and paths.passwd.exists():
            say(f"  broker user    {GATEWAY_USER}: there already (password in {paths.mqtt_password})")
            return True
        if active:  # its password is lost: a new one
            registry.revoke(GATEWAY_USER)
        password = registry.add(GATEWAY_USER, GATEWAY, hall)
        _write_private(paths.mqtt_password, password + "\n", owner)
        store.audit.append(
            [Entry(time.time(), cli_user(), "device.add", GATEWAY_USER, {"type": GATEWAY, "hall": hall})]
        )
        say(f"  broker user    {GATEWAY_USER}: made; its password is in {paths.mqtt_password} (mode 600)")
        say(f"                 {paths.passwd} and {paths.acl} written for the broker")
        return True
    except (CredentialError, ValueError) as exc:
        say(f"hallops setup: the gateway's broker user: {exc}")
        return False
    finally:
        registry.close()
        store.close()


def _write_private(path: Path, text: str, owner: Owner) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    _own(path, 0o600, owner, private=True)


def _ownership(paths: Paths, db: Path, owner: Owner) -> None:
    """The configuration root's and readable by the service's group; the data the service's own."""
    _folder(paths.etc, 0o750, owner, private=False)
    _own(paths.config, 0o640, owner, private=False)
    _folder(paths.data, 0o750, owner, private=True)
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if path.exists():
            _own(path, 0o600, owner, private=True)
    say(f"  ownership      {paths.etc}: root:{owner.name} 750; {paths.data} and the database: {owner.name}, private")


def _folder(path: Path, mode: int, owner: Owner, *, private: bool) -> None:
    path.mkdir(parents=True, exist_ok=True)
    _own(path, mode, owner, private=private)


def _own(path: Path, mode: int, owner: Owner, *, private: bool) -> None:
    """`path` to the service's user (private) or to root with the service's group; only root can give files away."""
    if os.geteuid() == 0:
        os.chown(path, owner.uid if private else 0, owner.gid)
    os.chmod(path, mode)


def _next_steps(paths: Paths, http_port: int, failed: bool) -> str:
    if failed:
        return "hallops setup: not finished: do what the lines above say, then run hallops setup again"
    return (
        "hallops setup: done. Start the broker and the gateway —\n"
        "  with systemd:    systemctl disable --now mosquitto   # Debian's own broker, on the same port\n"
        "                   systemctl enable --now hallops-mosquitto hallops-gateway\n"
        f"  without systemd: runuser -u mosquitto -- mosquitto -c {paths.broker_etc / BROKER_CONF} &\n"
        f"                   runuser -u hallops -- hallops gateway --config {paths.config} &\n"
        f"then open http://127.0.0.1:{http_port}/ and sign in as the administrator (docs: /usr/share/doc/hallops/)"
    )
