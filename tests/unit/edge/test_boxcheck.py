"""The verdicts of `hallops setup`'s checks of the box: free disk, time sync, ports, Python, the broker's listeners."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

import pytest

from edge import boxcheck
from edge.boxcheck import GB, Status

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("free", "status"),
    [(50 * GB, Status.OK), (10 * GB, Status.OK), (9.9 * GB, Status.WARNING), (1 * GB, Status.WARNING),
     (0.9 * GB, Status.FAILED), (0, Status.FAILED)],
)  # fmt: skip
def test_disk_warns_under_the_threshold_and_fails_under_a_tenth(free: float, status: Status) -> None:
    finding = boxcheck.disk(Path("/data"), 10, free_bytes=lambda _p: int(free))
    assert finding.status is status
    assert f"{free / GB:.1f} GB free on /data" in finding.found
    assert (finding.advice == "") is (status is Status.OK)


def test_disk_that_cannot_be_read_fails(tmp_path: Path) -> None:
    finding = boxcheck.disk(tmp_path / "missing")
    assert finding.status is Status.FAILED and "cannot read the free space" in finding.found


def answers(table: dict[str, tuple[int, str] | None]) -> boxcheck.Run:
    def run(argv: Sequence[str]) -> tuple[int, str] | None:
        return table.get(argv[0])

    return run


CHRONY_SYNCED = "Reference ID    : C0A80001 (192.168.0.1)\nLeap status     : Normal\n"
CHRONY_UNSYNCED = "Reference ID    : 00000000 ()\nLeap status     : Not synchronised\n"
NO_SYSTEMD = "System has not been booted with systemd as init system (PID 1). Can't operate.\n"


@pytest.mark.parametrize(
    ("table", "status", "words"),
    [
        ({"timedatectl": (0, "yes\n")}, Status.OK, "synchronised (timedatectl)"),
        ({"timedatectl": (0, "no\n"), "chronyc": (0, CHRONY_SYNCED)}, Status.WARNING, "not synchronised (timedatectl)"),
        ({"timedatectl": (1, NO_SYSTEMD), "chronyc": (0, CHRONY_SYNCED)}, Status.OK, "synchronised (chrony)"),
        ({"timedatectl": (1, NO_SYSTEMD), "chronyc": (0, CHRONY_UNSYNCED)}, Status.WARNING, "not synchronised"),
        ({"chronyc": (1, "506 Cannot talk to daemon\n"), "ntpstat": (0, "synchronised")}, Status.OK, "(ntpd)"),
        ({"ntpstat": (1, "unsynchronised")}, Status.WARNING, "ntpd runs but"),
        ({"ntpstat": (2, "cannot contact")}, Status.WARNING, "cannot tell"),
        ({"timedatectl": (1, NO_SYSTEMD)}, Status.WARNING, "cannot tell"),
        ({}, Status.WARNING, "cannot tell"),
    ],
)
def test_time_sync_from_whatever_the_box_has(
    table: dict[str, tuple[int, str] | None], status: Status, words: str
) -> None:
    finding = boxcheck.time_sync(answers(table))
    assert finding.status is status and words in finding.found
    assert ("NTP" in finding.advice) is (status is not Status.OK)


def test_a_port_someone_listens_on_is_in_use_and_a_closed_one_is_free() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        finding = boxcheck.port("127.0.0.1", taken, "the broker", "hallops-mosquitto")
        assert finding.status is Status.WARNING and "is in use" in finding.found
        assert f"sport = :{taken}" in finding.advice and "hallops-mosquitto" in finding.advice
    assert boxcheck.port("127.0.0.1", taken, "the broker", "hallops-mosquitto").status is Status.OK


def test_a_port_on_an_address_the_box_lacks_fails() -> None:
    finding = boxcheck.port("192.0.2.1", 1883, "the broker", "hallops-mosquitto")  # TEST-NET-1: never local
    assert finding.status is Status.FAILED and "cannot listen on 192.0.2.1:1883" in finding.found


@pytest.mark.parametrize(
    ("version", "status"), [((3, 11, 2), Status.OK), ((3, 13, 0), Status.OK), ((3, 10, 12), Status.FAILED)]
)
def test_python_needs_3_11(version: tuple[int, int, int], status: Status) -> None:
    finding = boxcheck.python(version)
    assert finding.status is status and f"Python {version[0]}.{version[1]}.{version[2]}" in finding.found


def test_the_shipped_broker_configuration_listens_on_1883_loopback_and_8883_everywhere(tmp_path: Path) -> None:
    shipped = ROOT / "deploy" / "mosquitto" / "hallops.conf"
    assert boxcheck.broker_listeners(shipped) == [("127.0.0.1", 1883), ("0.0.0.0", 8883)]
    assert boxcheck.broker_listeners(tmp_path / "none.conf") == []


def test_a_finding_prints_its_verdict_in_both_languages_and_what_to_do() -> None:
    line = boxcheck.Finding("disk", Status.WARNING, "2.0 GB free on /data", "give it more").line()
    assert line.startswith("  warning 注意") and "disk: 2.0 GB free on /data" in line and "→ give it more" in line
