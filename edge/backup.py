"""Backups of a hall's box: one tar archive (0600) with the database, the configuration and the key and certificate
files the configuration names, described by a manifest with every file's SHA-256 (docs/backup.md).

    BackupError(HallOpsError)   an archive that cannot be made, or is refused for restore (edge/restore.py); the
                                message says why and what to do

Layout of an archive (`hallops-backup/1`):

    manifest.json              hallops and schema version, hall id, created at, host, the database's
                               integrity_check, and per file: role, path on the box, member, size, SHA-256, mode, owner
    database/<name>            the database, copied with SQLite's online backup API (`copy_database`)
    files/<absolute path>      the configuration and each file it names (keys, certificates, password files, rules)

The database copy holds one read transaction for the whole copy and steps through it a few MB at a time: in WAL mode
a reader never blocks the gateway's writes (they go on during the copy; only the checkpoint waits, so the -wal file
grows for the copy's duration), and the open read transaction keeps every step on the same snapshot, so the copy is
consistent and never restarts however busy the hall is.

Owns the archive's format, the copy, the rotation and the gateway's pre-upgrade backup (`before_upgrade`). It must
not open the database through the store (that would migrate it), nor restore anything (edge/restore.py does).
"""

from __future__ import annotations

import errno
import grp
import hashlib
import io
import json
import logging
import os
import pwd
import re
import socket
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from devices.errors import HallOpsError
from edge.anchor import default_key_path
from edge.store.integrity import StorageError
from edge.store.schema import VERSION

log = logging.getLogger(__name__)

FORMAT = "hallops-backup/1"
MANIFEST = "manifest.json"
DEFAULT_DIR = Path("/var/lib/hallops/backups")
STEP_PAGES = 1024  # pages copied per step of the online backup (4 MiB at SQLite's default page size)
CHUNK = 1 << 20
ARCHIVE_MODE = 0o600
# configuration fields that name a file but are not the box's to restore: the database is its own member, and the
# anchor file is an append-only log of heads already published (an older copy would take lines back)
NOT_BACKED_UP = {"storage.path", "audit.anchor_file", "storage.backups_dir"}
STAMP = "%Y%m%dT%H%M%SZ"
ROTATED = re.compile(r"^(?P<hall>.+)-(?P<stamp>\d{8}T\d{6}Z)\.tar$")  # what --keep rotates (not pre-upgrade backups)

Progress = Callable[[str], None]


class BackupError(HallOpsError):
    """A backup that cannot be made or an archive refused for restore: str() says what and what to do."""


@dataclass(frozen=True, slots=True)
class Entry:
    role: str  # database | config | file
    path: str  # where it lives on the box (absolute)
    member: str  # its name in the archive
    size: int
    sha256: str
    mode: int
    uid: int
    gid: int
    owner: str
    group: str


@dataclass(frozen=True, slots=True)
class Manifest:
    hallops_version: str
    schema_version: int
    hall: str
    created_at: str
    host: str
    integrity_check: str
    files: tuple[Entry, ...]
    kind: str = "backup"  # backup | pre-upgrade
    format: str = FORMAT

    def to_json(self) -> bytes:
        body = asdict(self)
        body["files"] = [asdict(e) for e in self.files]
        return json.dumps(body, ensure_ascii=False, indent=2).encode()

    @property
    def database(self) -> Entry | None:
        return next((e for e in self.files if e.role == "database"), None)

    @property
    def config(self) -> Entry | None:
        return next((e for e in self.files if e.role == "config"), None)


def hallops_version() -> str:
    try:
        return metadata.version("hallops")
    except metadata.PackageNotFoundError:
        return "unknown"


# -- making a backup --------------------------------------------------------------------------------------------


def copy_database(source: sqlite3.Connection, dest: Path, progress: Progress | None = None) -> str:
    """Copy the open database `source` into a new file `dest` (0600) with SQLite's online backup API, in steps of
    `STEP_PAGES` pages on one snapshot; returns `PRAGMA integrity_check` of the copy ("ok" or its first findings).
    OSError or sqlite3.Error (a full disk …) with `dest` removed."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    target = sqlite3.connect(dest, isolation_level=None)
    shown = [-1]

    def step(status: int, remaining: int, total: int) -> None:
        done = 100 * (total - remaining) // max(total, 1)
        if progress is not None and done // 10 > shown[0]:
            shown[0] = done // 10
            progress(f"database: {done}% of {total:,} pages")

    opened = not source.in_transaction
    try:
        if opened:  # one snapshot for every step (WAL: the gateway's writes go on; it never restarts)
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        source.backup(target, pages=STEP_PAGES, progress=step, sleep=0.0)
        findings = [str(r[0]) for r in target.execute("PRAGMA integrity_check(10)")]
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file: no -wal beside it in the archive
    except BaseException:
        target.close()
        dest.unlink(missing_ok=True)
        raise
    finally:
        if opened and source.in_transaction:
            source.execute("ROLLBACK")
    target.close()
    return "; ".join(findings)


def config_files(cfg: Any, db: Path) -> list[tuple[str, Path]]:
    """Every file the gateway configuration `cfg` (edge.config.GatewayConfig) names, as (field path, absolute
    path), with the audit anchor key beside the database when `audit.anchor_key` is not set; missing files and
    folders left out (a backup takes what is there)."""
    return [(where, path) for where, path in named_paths(cfg, db) if path.is_file()]


def named_paths(cfg: Any, db: Path) -> list[tuple[str, Path]]:
    """Every path a Path-typed field of `cfg` holds (but those in NOT_BACKED_UP), absolute, once each, whether or
    not it exists; with the anchor key beside `db` when `audit.anchor_key` is not set. The files a backup takes,
    and the only files other than the database and the configuration a restore may write (edge/restore.py)."""
    found: list[tuple[str, Path]] = []

    def walk(value: Any, where: str) -> None:
        if where in NOT_BACKED_UP:
            return
        if isinstance(value, Path):
            found.append((where, value))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{where}.{name}" if where else name)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{where}.{k}")
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")

    walk(cfg, "")
    if getattr(cfg.audit, "anchor_key", None) is None:
        found.append(("audit.anchor_key (default)", default_key_path(db)))
    out: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    for where, path in found:
        full = Path(os.path.abspath(path))
        if full not in seen:
            seen.add(full)
            out.append((where, full))
    return out


def make_backup(  # noqa: PLR0913 - each a part of the archive, by name
    out: Path,
    *,
    hall: str,
    db: Path,
    config: Path | None,
    files: Iterable[Path] = (),
    kind: str = "backup",
    source: sqlite3.Connection | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Write the archive `out` (0600, written beside it and renamed into place): the database at `db` (through
    `source` if given, an open connection, else a connection of its own that never migrates the file), `config` and
    `files`. BackupError if it cannot be made; nothing is left behind then."""
    now = now or datetime.now(UTC)
    say = progress or (lambda _text: None)
    out = Path(os.path.abspath(out))
    try:
        new_folder = not out.parent.exists()
        out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        owner = _data_owner(db)
        if owner is not None and (new_folder or out.parent == db.parent / "backups"):
            os.chown(out.parent, *owner)  # (root's folder: the gateway's next pre-upgrade backup could not write)
        workspace = tempfile.TemporaryDirectory(prefix=".hallops-backup-", dir=out.parent)
    except OSError as exc:
        raise BackupError(f"the folder {out.parent} cannot take a backup: {_why(exc)}") from exc
    with workspace as work:
        copy = Path(work) / db.name
        own = source is None
        try:
            if own:
                if not db.is_file():
                    raise BackupError(f"no database at {db}: check storage.path in the configuration")
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None, timeout=30.0)
            else:
                assert source is not None
                conn = source
            try:
                schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
                integrity = copy_database(conn, copy, say)
            finally:
                if own:
                    conn.close()
        except (OSError, sqlite3.Error) as exc:
            raise BackupError(f"the database {db} could not be copied to {out.parent}: {_why(exc)}") from exc
        if integrity != "ok":
            say(f"WARNING: the copy's integrity_check says: {integrity}")
        members: list[tuple[Entry, Path]] = [(_entry("database", db, f"database/{db.name}", copy), copy)]
        named = [("config", config)] if config is not None else []
        for role, file in [*named, *(("file", f) for f in files)]:
            full = Path(os.path.abspath(file))
            try:
                members.append((_entry(role, full, member_name(full), full), full))
            except OSError as exc:
                raise BackupError(f"{full} could not be read: {_why(exc)}") from exc
        manifest = Manifest(
            hallops_version=hallops_version(),
            schema_version=schema,
            hall=hall,
            created_at=now.astimezone(UTC).isoformat(timespec="seconds"),
            host=socket.gethostname(),
            integrity_check=integrity,
            files=tuple(e for e, _ in members),
            kind=kind,
        )
        _write_archive(out, manifest, members, owner, say)
    return manifest


def _write_archive(
    out: Path, manifest: Manifest, members: list[tuple[Entry, Path]], owner: tuple[int, int] | None, say: Progress
) -> None:
    """The tar at `out`, written under a partial name of its own (two gateways writing the same name never share
    one) and renamed into place. BackupError with the partial file removed."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    except OSError as exc:
        raise BackupError(f"the archive {out} could not be written: {_why(exc)}") from exc
    partial = Path(name)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
                _add(tar, MANIFEST, io.BytesIO(manifest.to_json()), len(manifest.to_json()))
                for entry, path in members:
                    say(f"adding {entry.path} ({entry.size:,} bytes)")
                    with path.open("rb") as f:
                        _add(tar, entry.member, f, entry.size)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(partial, ARCHIVE_MODE)
        if owner is not None:
            os.chown(partial, *owner)
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"the archive {out} could not be written: {_why(exc)}") from exc


def rotate(folder: Path, hall: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` regular backups of `hall` in `folder` (`<hall>-<time>.tar`; pre-upgrade
    backups and other files are never touched); returns those deleted."""
    ours = sorted(p for p in folder.iterdir() if (m := ROTATED.match(p.name)) and m["hall"] == hall and p.is_file())
    gone = ours[: max(0, len(ours) - keep)]
    for p in gone:
        p.unlink()
    return gone


def default_name(hall: str, now: datetime, kind: str = "backup", schema: int | None = None) -> str:
    stamp = now.astimezone(UTC).strftime(STAMP)
    if kind == "pre-upgrade":
        return f"{hall}-pre-upgrade-v{schema}-{stamp}.tar"
    return f"{hall}-{stamp}.tar"


def pre_upgrade_backup(
    source: sqlite3.Connection, db: Path, folder: Path, hall: str, schema: int, now: datetime | None = None
) -> Path:
    """Before the store migrates `db` from `schema`: the database alone, into `folder`, named with that version.
    BackupError (the migration must not run then) if it cannot be written."""
    now = now or datetime.now(UTC)
    out = folder / default_name(hall, now, "pre-upgrade", schema)
    make_backup(out, hall=hall, db=db, config=None, kind="pre-upgrade", source=source, now=now)
    return out


def _entry(role: str, path: Path, member: str, data: Path) -> Entry:
    st = (path if path.exists() else data).stat()  # the database's mode and owner are the live file's
    digest = hashlib.sha256()
    size = 0
    with data.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return Entry(
        role=role,
        path=str(path),
        member=member,
        size=size,
        sha256=digest.hexdigest(),
        mode=st.st_mode & 0o7777,
        uid=st.st_uid,
        gid=st.st_gid,
        owner=_user_name(st.st_uid),
        group=_group_name(st.st_gid),
    )


def member_name(path: Path) -> str:
    """Where a file of the box goes in the archive."""
    return "files" + str(path)


def _add(tar: tarfile.TarFile, name: str, data: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = 0
    tar.addfile(info, data)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _data_owner(db: Path) -> tuple[int, int] | None:
    """When run as root: the owner and group of the data folder (the gateway's user), whom the backups belong to."""
    if os.geteuid() != 0:
        return None
    try:
        st = db.parent.stat()
    except OSError:
        return None
    return (st.st_uid, st.st_gid) if st.st_uid != 0 else None


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}{f' ({exc.filename})' if exc.filename else ''}"
    return str(exc) or type(exc).__name__


def before_upgrade(db: Path, folder: Path, hall: str) -> Callable[[sqlite3.Connection, int], None]:
    """The store's `before_upgrade` for the gateway: the pre-upgrade backup of `db`, said in the log; a
    StorageError (the file is not migrated, and the gateway stops with what to do) if it cannot be written."""

    def backup(source: sqlite3.Connection, found: int) -> None:
        log.info("storage: schema version %d → %d: writing a pre-upgrade backup to %s", found, VERSION, folder)
        try:
            out = pre_upgrade_backup(source, db, folder, hall, found)
        except BackupError as exc:
            raise StorageError(
                db,
                f"was not upgraded from schema version {found} to {VERSION}, because its pre-upgrade backup could not "
                f"be written ({exc})",
                _advice(exc.__cause__, folder),
            ) from exc
        log.warning(
            "storage: pre-upgrade backup of schema version %d written to %s; to roll back: install the previous "
            "release, then `hallops restore %s` (docs/backup.md)",
            found,
            out,
            out,
        )

    return backup


def _advice(cause: BaseException | None, folder: Path) -> str:
    """What to do when the pre-upgrade backup could not be written, by what stopped it."""
    if isinstance(cause, OSError) and cause.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        try:
            st = folder.stat()
            who = f"it belongs to {_user_name(st.st_uid)}:{_group_name(st.st_gid)}, mode {st.st_mode & 0o7777:04o}"
        except OSError:
            who = "it cannot be read"
        return (
            f"The gateway's user ({_user_name(os.geteuid())}) cannot write {folder} ({who}): give it the folder "
            f"(`sudo chown -R {_user_name(os.geteuid())}: {folder}`) or set storage.backups_dir to a folder it can "
            "write, and start again; the database was not changed"
        )
    return (
        f"Free space in {folder} (`df -h {folder}`) or set storage.backups_dir to a folder with room, and "
        "start again; the database was not changed"
    )
