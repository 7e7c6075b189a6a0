"""The broker ACL that `hallops devices add|revoke` writes: each device its own topics, the gateway the hall's."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main
from edge.credentials import GATEWAY, Credential, acl

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
        ],  # its reports, bridged out; no device may write under cloud/
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
