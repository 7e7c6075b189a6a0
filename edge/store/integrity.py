"""Whether the gateway's SQLite file can be used, said before anything is written to it: `StorageError`.

    StorageError(HallOpsError)   the file is empty, not a database, truncated, damaged, locked or unreadable;
                                 carries `path`, `finding` (what is wrong) and `advice` (what to do)

Owns the look at the file's bytes before SQLite opens it (`inspect_file`: an empty file is not a new hall, a file
without the SQLite header is not a database, a file shorter than its header says is truncated), the page check once
it is open (`check_pages`: `PRAGMA quick_check`), and the finding of who holds a lock (`locked`: on Linux the POSIX
locks of /proc/locks on the file or its -wal/-shm, and that process's command line). It must not open, repair,
move or write the file: connection.py opens it, the operator decides what to do with a bad one (docs/deploy.md).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from devices.errors import HallOpsError

__all__ = ["StorageError", "check_pages", "in_use", "inspect_file", "locked", "unusable"]

HEADER = b"SQLite format 3\x00"
HEADER_BYTES = 100  # a database file begins with a 100-byte header (https://sqlite.org/fileformat.html)
SHOWN_FINDINGS = 3  # quick_check lines quoted in the message; the rest are counted …
ASKED_FINDINGS = 10  # … up to this many (quick_check stops there)
PROC_LOCKS = Path("/proc/locks")

RESTORE = (
    "Keep a copy of it (with any -wal and -shm file beside it) for diagnosis, then restore it from your backup, "
    "or move it aside to start an empty hall; docs/deploy.md, 'The database is damaged or locked', says how."
)
UNLOCK = (
    "Stop the other process, or wait until it is done, and start again: two gateways must not share one file "
    "(docs/deploy.md, 'The database is damaged or locked')."
)
PERMISSIONS = "Check that the path is right and that the user running hallops may read and write it and its folder."
FREE_SPACE = "Free space on its disk (`df -h` shows how much is left) and start again."
CHECK_DISK = "Check the disk (`dmesg` shows its errors) and start again; if the error stays, restore it from a backup."


class StorageError(HallOpsError):
    """The gateway's SQLite file cannot be used: `path`, what is wrong with it (`finding`, a phrase that follows the
    path: "is empty (0 bytes) …") and what to do (`advice`, sentences). str() is one paragraph naming all three."""

    def __init__(self, path: Path, finding: str, advice: str) -> None:
        self.path = path
        self.finding = finding
        self.advice = advice
        super().__init__(f"the database {path} {finding}. {advice}")


def inspect_file(path: Path) -> None:
    """Refuse, before SQLite opens it, an existing file at `path` that is empty, is not a SQLite database or is shorter
    than its header says. A missing file passes (a first start creates it)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(path, f"cannot be read ({exc.strerror or exc})", PERMISSIONS) from exc
    if not path.is_file():
        raise StorageError(path, "is not a file", "Point storage.path (or --db) at the database file.")
    if size == 0 and _wal_size(path) == 0:
        # SQLite itself would take it for a new, empty database: a hall that silently starts from nothing
        raise StorageError(
            path,
            "is empty (0 bytes): something truncated it (a database hallops made is never empty), so it is not "
            "started as a new hall",
            RESTORE,
        )
    holders = _holders(path)
    if size == 0 or holders is None or any(h.pid == os.getpid() for h in holders):
        # Closing any descriptor of a file drops every POSIX lock the process holds on it, the SQLite connections'
        # too: a file this process has open (the gateway's, when a backtest opens its own connection) is not read
        # here, nor one whose locks cannot be seen. SQLite's own errors and check_pages then judge it. (An empty
        # file with a -wal file: only the -wal holds the database.)
        return
    try:
        with path.open("rb") as f:
            head = f.read(HEADER_BYTES)
    except OSError as exc:
        raise StorageError(path, f"cannot be read ({exc.strerror or exc})", PERMISSIONS) from exc
    if not head.startswith(HEADER):
        raise StorageError(path, f"is not a SQLite database: {_described(head, size)}", RESTORE)
    if size < HEADER_BYTES:
        raise StorageError(path, f"is truncated: it is {size} bytes long, shorter than the 100-byte header", RESTORE)
    expected = _size_in_header(head)
    if expected is not None and size < expected and _wal_size(path) == 0:
        # (with a -wal file, a checkpoint cut short may have written the header before the pages: SQLite finishes it)
        raise StorageError(
            path,
            f"is truncated: its header says {expected // _page_size(head)} pages ({expected:,} bytes) "
            f"but the file holds {size:,} bytes",
            RESTORE,
        )


def check_pages(db: sqlite3.Connection, path: Path) -> None:
    """Refuse the open file unless `PRAGMA quick_check` says `ok`: every page of every table and index read and its
    structure checked (not the full integrity_check, which also matches every index to its table). The sqlite3.Error
    of a check that found nothing to report (a lock, a file too damaged to walk) is raised as it is."""
    findings: list[str] = []
    # SQLite reports a damaged page as a row and then fails the next step with SQLITE_CORRUPT; Python's cursor drops
    # the row it holds when the step fails. A function called as each row is made keeps them.
    db.create_function("hallops_finding", 1, findings.append)
    try:
        db.execute(f"SELECT hallops_finding(quick_check) FROM pragma_quick_check({ASKED_FINDINGS})").fetchall()
    except sqlite3.DatabaseError:
        if not findings:  # locked, or too damaged to report a page: `unusable` words it
            raise
    finally:
        db.create_function("hallops_finding", 1, None)
    lines = [line for text in findings for line in str(text).splitlines() if line and not line.startswith("***")]
    if lines == ["ok"]:
        return
    shown = "; ".join(lines[:SHOWN_FINDINGS])
    more = ""
    if len(lines) > SHOWN_FINDINGS:
        more = f" (and {'at least ' if len(lines) >= ASKED_FINDINGS else ''}{len(lines) - SHOWN_FINDINGS} more)"
    raise StorageError(path, f"is damaged: SQLite's quick_check found {shown}{more}", RESTORE)


def unusable(path: Path, exc: sqlite3.Error) -> StorageError | None:
    """The StorageError for a SQLite error met while opening `path` or bringing its schema up to date, if it is one
    of the file or the disk; None for any other (a mistake of ours, to be raised as it is)."""
    name = str(getattr(exc, "sqlite_errorname", ""))
    if _is_lock(exc):
        return locked(path)
    if name == "SQLITE_NOTADB":
        return StorageError(path, f"is not a SQLite database (SQLite says '{exc}')", RESTORE)
    if name.startswith("SQLITE_CORRUPT"):
        return StorageError(path, f"is damaged: SQLite says '{exc}'", RESTORE)
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH")):
        return StorageError(path, f"cannot be opened for writing: SQLite says '{exc}'", PERMISSIONS)
    if name == "SQLITE_FULL":
        return StorageError(path, f"cannot be written: SQLite says '{exc}'", FREE_SPACE)
    if name.startswith("SQLITE_IOERR"):
        return StorageError(path, f"cannot be read or written: SQLite says '{exc}' ({name})", CHECK_DISK)
    return None


def locked(path: Path) -> StorageError:
    """The StorageError for a file another connection keeps locked, naming the processes that hold it if /proc/locks
    shows them: those with a write lock, else those with any lock (every SQLite connection in WAL mode holds one)."""
    found = _holders(path) or []
    writers = [h for h in found if h.write]
    if writers:
        who = f"{_listed(writers)} {'holds' if len(writers) == 1 else 'hold'} its write lock"
    elif found:
        who = f"{_listed(found)} {'has' if len(found) == 1 else 'have'} it open"
    else:
        who = "no process holding it is listed in /proc/locks (another machine or container?)"
    return StorageError(path, f"is locked by another connection: {who}", UNLOCK)


def in_use(path: Path) -> StorageError | None:
    """The StorageError `locked` says for a file another process has open (a running gateway keeps a lock on its
    file or its -shm), or None if none does or /proc/locks cannot be read. For a command that must not touch a file
    in use (`hallops restore`)."""
    found = [h for h in (_holders(path) or []) if h.pid != os.getpid()]
    return locked(path) if found else None


def _is_lock(exc: sqlite3.Error) -> bool:
    return str(getattr(exc, "sqlite_errorname", "")).startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


def _wal_size(path: Path) -> int:
    try:
        return Path(f"{path}-wal").stat().st_size
    except OSError:
        return 0


def _page_size(head: bytes) -> int:
    raw = int.from_bytes(head[16:18], "big")
    return 65536 if raw == 1 else raw


def _size_in_header(head: bytes) -> int | None:
    """The size the header gives the file in bytes, or None where SQLite would not trust it: zero, or written by a
    release that did not keep it (its change counter and version-valid-for number differ)."""
    pages = int.from_bytes(head[28:32], "big")
    if pages == 0 or head[24:28] != head[92:96] or _page_size(head) < 512:
        return None
    return pages * _page_size(head)


def _described(head: bytes, size: int) -> str:
    if head.startswith(b"\x1f\x8b"):
        return "it is gzip-compressed (a packed backup? unpack it with gunzip first)"
    if not head.strip(b"\x00"):
        return f"its first {len(head)} bytes are all zero ({size:,} bytes in all)"
    return f"it begins with {head[:8].hex(' ')} instead of 'SQLite format 3' ({size:,} bytes in all)"


@dataclass(frozen=True, slots=True)
class _Holder:
    pid: int
    write: bool

    def __str__(self) -> str:
        if self.pid == os.getpid():
            return f"process {self.pid} (this process)"
        try:
            raw = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return f"process {self.pid}"
        command = " ".join(part.decode(errors="replace") for part in raw.split(b"\x00") if part)
        return f"process {self.pid} ({command[:117] + '…' if len(command) > 120 else command})"


def _listed(holders: list[_Holder]) -> str:
    return ", ".join(str(h) for h in holders[:3]) + (f" and {len(holders) - 3} more" if len(holders) > 3 else "")


def _holders(path: Path) -> list[_Holder] | None:
    """The processes with a POSIX, OFD or flock lock on `path`, its -wal or its -shm, one per pid (a write lock if it
    holds any), in the order /proc/locks lists them. None where /proc/locks cannot be read (not Linux)."""
    files: set[tuple[int, int, int]] = set()
    for name in (str(path), f"{path}-wal", f"{path}-shm"):
        try:
            st = os.stat(name)
        except OSError:
            continue
        files.add((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
    try:
        table = PROC_LOCKS.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    writes: dict[int, bool] = {}
    for line in table.splitlines():
        fields = line.split()
        # `1: POSIX  ADVISORY  WRITE 20347 fe:00:2205860 120 120`; a waiter's line has `->` after the number
        if len(fields) < 6 or fields[1] == "->" or fields[1] not in {"POSIX", "OFDLCK", "FLOCK"}:
            continue
        try:
            pid = int(fields[4])
            major, minor, inode = fields[5].split(":")
            key = (int(major, 16), int(minor, 16), int(inode))
        except ValueError:
            continue
        if pid > 0 and key in files:
            writes[pid] = writes.get(pid, False) or fields[3] == "WRITE"
    return [_Holder(pid, write) for pid, write in writes.items()]
