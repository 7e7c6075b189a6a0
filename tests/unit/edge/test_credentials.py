"""The broker files that `hallops devices add|revoke` writes: the ACL (each device its own topics, the gateway the
hall's) and the password file (mosquitto's own hashes, made without putting a password on any command line)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from edge.cli import main
from edge.credentials import GATEWAY, Credential, Registry, acl

T0 = 1_795_000_000.0


def test_each_device_may_write_its_own_channels_and_read_only_its_own_commands() -> None:
    text = acl([Credential("TM01", "ticket_machine", "h1", T0, None), Credential("gw", GATEWAY, "h1", T0, None)])
    blocks = [b.splitlines() for b in text.split("\n\n") if b.startswith("user")]
    assert blocks == [
        [
            "user gw",
            "topic readwrite hall/h1/#",
            "topic readwrite hallops/#",
            "topic read cloud/halls/h1/rules/bundle",
            "topic read cloud/halls/all/rules/bundle",  # bundles bridged in
            "topic write cloud/halls/h1/rules/applied",
            "topic write cloud/halls/h1/audit/head",
        ],  # its reports and the signed audit head, bridged out; no device may write under cloud/
        [
            "user TM01",
            "topic write hall/h1/ticket_machine/TM01/evt",
            "topic write hall/h1/ticket_machine/TM01/state",
            "topic write hall/h1/ticket_machine/TM01/hb",
            "topic write hall/h1/ticket_machine/TM01/cmd/ack",
            "topic read hall/h1/ticket_machine/TM01/cmd",
        ],
    ]


def test_a_revoked_device_has_no_entry() -> None:
    text = acl([Credential("K01", "kiosk", "h1", T0, T0 + 60), Credential("K02", "kiosk", "h1", T0, None)])
    assert "K01" not in text and "user K02" in text


@pytest.mark.parametrize(
    ("device", "kind", "message"),
    [("bad/id", "kiosk", "not a valid id"), ("K01", "toaster", "invalid choice")],
)
def test_the_cli_refuses_a_bad_device_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], device: str, kind: str, message: str
) -> None:
    argv = [
        "devices",
        "add",
        device,
        "--type",
        kind,
        "--hall",
        "h1",
        "--db",
        str(tmp_path / "g.db"),
        "--password-file",
        str(tmp_path / "passwd"),
        "--acl-file",
        str(tmp_path / "acl"),
    ]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses an unknown type before anything runs
        code = int(exc.code or 0)
    assert code in (1, 2)
    assert message in capsys.readouterr().err
    assert not (tmp_path / "passwd").exists()


def test_no_command_line_carries_a_device_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command line is anyone's to read on the box (`ps`, /proc/<pid>/cmdline)."""
    argvs: list[list[str]] = []

    class Recorded(subprocess.Popen[Any]):
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            argvs.append([str(a) for a in ([args] if isinstance(args, str | bytes) else args)])
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    files = ["--password-file", str(tmp_path / "passwd"), "--acl-file", str(tmp_path / "acl")]
    db = ["--db", str(tmp_path / "g.db")]
    assert main(["devices", "add", "TM01", "--type", "ticket_machine", "--hall", "h1", *db, *files]) == 0
    password = capsys.readouterr().out.split("password: ")[1].strip()
    assert main(["devices", "revoke", "TM01", *db, *files]) == 0
    assert not [argv for argv in argvs if any(password in a for a in argv)]


def test_the_password_file_holds_mosquittos_pbkdf2_hash_and_keeps_other_users(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    by_hand = "operator:$7$101$AAAAAAAAAAAAAAAA$" + "A" * 86 + "==\n"  # a line mosquitto_passwd wrote earlier
    passwd.write_text(by_hand, encoding="utf-8")
    registry = Registry(tmp_path / "g.db", passwd, tmp_path / "acl")
    try:
        password = registry.add("TM01", "ticket_machine", "h1")
        lines = passwd.read_text(encoding="utf-8").splitlines()
        assert lines[0] == by_hand.strip()
        user, hashed = lines[1].split(":", 1)
        _, kind, iterations, salt, digest = hashed.split("$")
        assert (user, kind, iterations, len(base64.b64decode(salt))) == ("TM01", "7", "101", 12)
        expected = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
        assert base64.b64decode(digest) == expected
        registry.revoke("TM01")
        assert passwd.read_text(encoding="utf-8") == by_hand
    finally:
        registry.close()
