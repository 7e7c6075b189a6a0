"""Faults done to the real processes by the reliability suite and the soak: another process holding the database's
write lock, a small file system that really fills up, and the malformed messages a broken or hostile device sends.

It owns how each fault is made and taken away; it must not measure (scenario.py) nor assert.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType


class DatabaseLock:
    """Another process (a backup tool, an operator's sqlite3 shell) holding the write lock of `db` until the block
    ends: `BEGIN EXCLUSIVE` in a child Python."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DatabaseLock:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30); "
                "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.readline(); "
                "c.execute('ROLLBACK')",
                str(self.db),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != b"locked":
            self.__exit__(None, None, None)
            raise RuntimeError(f"could not lock {self.db}")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.write(b"\n")
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def small_disk(where: Path, size: str = "16m") -> Iterator[Path]:
    """A size-limited tmpfs mounted at `where` (root only; the test command runs as root): a file system that
    really fills up. Unmounted when the block ends."""
    where.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"cannot mount a tmpfs at {where}: {result.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Fill the file system to the last byte with one file (deleting it frees the space)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:  # unbuffered: nothing is left to flush (and fail) on close
        for size in (1 << 16, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    return filler


def malformed(
    hall: str, n: int, devices: tuple[str, ...] = ("window/W01", "ticket_machine/TM1")
) -> list[tuple[str, bytes]]:
    """`n` messages no device should send, cycling through the worst kinds: not JSON, not an object, JSON nested
    deeper than any parser's recursion, NaN and numbers past 64 bits, a wrong contract version, fields of the wrong
    type, a time that is not one, a 900 KiB body, unknown device types and devices, a topic of the wrong shape, and a
    well-formed event with an absurd `seq` on a real device's topic (must not make the device's later events look like
    repeats)."""
    now = datetime.now(UTC).isoformat()
    real = [f"hall/{hall}/{d}/evt" for d in devices]
    kinds: list[tuple[str, bytes]] = [
        (real[0], b"\xff\xfe\x00 not json"),
        (real[0], b""),
        (real[1], b"[1, 2, 3]"),
        (real[1], b'"just a string"'),
        (real[0], b"[" * 100_000 + b"]" * 100_000),
        (real[1], b'{"v": 1, "ts": "' + now.encode() + b'", "seq": NaN, "type": "ticket.issued"}'),
        (real[1], json.dumps({"v": 1, "ts": now, "seq": 2**80, "type": "ticket.issued"}).encode()),
        (real[0], json.dumps({"v": 99, "ts": now, "seq": 1, "type": "window.opened"}).encode()),
        (real[0], json.dumps({"v": 1, "ts": now, "seq": "one", "type": ["window.opened"]}).encode()),
        (real[1], json.dumps({"v": 1, "ts": "yesterday at noon", "seq": 3, "type": "ticket.issued"}).encode()),
        (real[1], json.dumps({"v": 1, "ts": now, "seq": 4, "type": "ticket.issued", "x": "a" * 900_000}).encode()),
        (f"hall/{hall}/toaster/T1/evt", json.dumps({"v": 1, "ts": now, "seq": 1, "type": "toast"}).encode()),
        (f"hall/{hall}/window/NOSUCH/evt", json.dumps({"v": 1, "ts": now, "seq": 1, "type": "x"}).encode()),
        (f"hall/{hall}/evt", b"{}"),
        (real[0] + "/extra/levels", b"{}"),
        (real[1], json.dumps({"v": 1, "ts": now, "seq": 2_000_000_000, "type": "no.such.event"}).encode()),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]
