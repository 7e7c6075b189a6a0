"""Checks of the box a hall's gateway is set up on (`hallops setup`): free disk, time sync, free ports, Python.

Each check returns a `Finding`: ok, warning or failed, what was found, and what to do about it. The probes that reach
outside the process (free space, a command such as `timedatectl`, binding a port) are parameters, so the verdicts are
tested without the box's own state. This module decides nothing about the set-up itself and changes nothing on the
box: `edge.cli.setup` runs the checks and prints them.
"""

from __future__ import annotations

import errno
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

GB = 1_000_000_000
MIN_FREE_GB = 10.0  # about 70 days of a city hall's measured 143.5 MB a day (issue 22); docs/install.md
MIN_PYTHON = (3, 11)


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"


LABEL = {Status.OK: "ok 正常", Status.WARNING: "warning 注意", Status.FAILED: "failed 失败"}


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # disk, time, port 1883, python
    status: Status
    found: str
    advice: str = ""  # what to do; empty when nothing is to be done

    def line(self) -> str:
        text = f"  {LABEL[self.status]:<12} {self.check}: {self.found}"
        return f"{text}\n{'':<16}→ {self.advice}" if self.advice else text


Run = Callable[[Sequence[str]], tuple[int, str] | None]  # exit status and output; None: no such command


def run_command(argv: Sequence[str]) -> tuple[int, str] | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.returncode, done.stdout + done.stderr


def disk(path: Path, min_free_gb: float = MIN_FREE_GB, free_bytes: Callable[[Path], int] | None = None) -> Finding:
    """Free space where the data goes: a warning under `min_free_gb`, failed under a tenth of it."""
    probe = free_bytes or (lambda p: shutil.disk_usage(p).free)
    try:
        free = probe(path)
    except OSError as exc:
        return Finding("disk", Status.FAILED, f"cannot read the free space of {path}: {exc.strerror}", "check the path")
    found = f"{free / GB:.1f} GB free on {path}"
    if free >= min_free_gb * GB:
        return Finding("disk", Status.OK, found)
    advice = (
        f"the hall's database grows every day (a city hall measured about 143.5 MB a day): give {path} at least "
        f"{min_free_gb:g} GB (another disk, or a larger partition) before devices send data"
    )
    return Finding("disk", Status.FAILED if free < min_free_gb * GB / 10 else Status.WARNING, found, advice)


TIME_ADVICE = (
    "alerts, SLA clocks, signed webhooks and the audit log need the right time: synchronise the clock with the hall's "
    "NTP server (systemd-timesyncd: NTP= in /etc/systemd/timesyncd.conf; or apt-get install chrony)"
)


def time_sync(run: Run = run_command) -> Finding:
    """Whether the clock is synchronised, from timedatectl (systemd running), else chronyc, else ntpstat."""
    answer = run(["timedatectl", "show", "--property=NTPSynchronized", "--value"])
    if answer is not None and answer[0] == 0 and answer[1].strip() in ("yes", "no"):
        if answer[1].strip() == "yes":
            return Finding("time", Status.OK, "the clock is synchronised (timedatectl)")
        return Finding("time", Status.WARNING, "the clock is not synchronised (timedatectl)", TIME_ADVICE)
    answer = run(["chronyc", "-n", "tracking"])
    if answer is not None and answer[0] == 0:
        leap = re.search(r"^Leap status\s*:\s*(.+)$", answer[1], re.MULTILINE)
        if leap and leap.group(1).strip() == "Normal":
            return Finding("time", Status.OK, "the clock is synchronised (chrony)")
        return Finding("time", Status.WARNING, "chrony runs but the clock is not synchronised", TIME_ADVICE)
    answer = run(["ntpstat"])
    if answer is not None and answer[0] in (0, 1):
        if answer[0] == 0:
            return Finding("time", Status.OK, "the clock is synchronised (ntpd)")
        return Finding("time", Status.WARNING, "ntpd runs but the clock is not synchronised", TIME_ADVICE)
    return Finding(
        "time",
        Status.WARNING,
        "cannot tell whether the clock is synchronised (no timedatectl with a running systemd, no chronyc, no ntpstat)",
        TIME_ADVICE,
    )


def port_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port (a socket binds there). SO_REUSEADDR: a closed connection's TIME_WAIT
    does not count as in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port(host: str, number: int, what: str, owner: str, free: Callable[[str, int], bool] = port_free) -> Finding:
    """A port the box needs: free, or already taken (by hallops' own `owner` if it runs, else by something else)."""
    check = f"port {number}"
    try:
        is_free = free(host, number)
    except OSError as exc:  # e.g. an address this box does not have
        return Finding(check, Status.FAILED, f"cannot listen on {host}:{number} ({what}): {exc.strerror}", "")
    if is_free:
        return Finding(check, Status.OK, f"{host}:{number} is free ({what})")
    return Finding(
        check,
        Status.WARNING,
        f"{host}:{number} ({what}) is in use",
        f"fine if it is {owner} already running; otherwise find it with ss -ltnp 'sport = :{number}' and stop it "
        "(Debian's own broker: systemctl disable --now mosquitto)",
    )


def python(version: tuple[int, int, int] | None = None) -> Finding:
    v = version or (sys.version_info.major, sys.version_info.minor, sys.version_info.micro)
    found = f"Python {v[0]}.{v[1]}.{v[2]} ({sys.executable})"
    if v[:2] >= MIN_PYTHON:
        return Finding("python", Status.OK, found)
    return Finding("python", Status.FAILED, found, "hallops needs Python 3.11 or newer (Debian 12: python3)")


def broker_listeners(conf: Path) -> list[tuple[str, int]]:
    """The (address, port) of each `listener` line of a mosquitto configuration; [] if the file cannot be read."""
    try:
        text = conf.read_text(encoding="utf-8")
    except OSError:
        return []
    found = []
    for m in re.finditer(r"^listener\s+(\d+)(?:\s+(\S+))?\s*$", text, re.MULTILINE):
        found.append((m.group(2) or "0.0.0.0", int(m.group(1))))
    return found
