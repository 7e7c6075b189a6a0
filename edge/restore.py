"""The restore of a backup (edge/backup.py's archive) onto a hall's box, and the checks before it.

A restore reads the whole archive first and refuses it before anything on the box changes: a member missing, added,
of another size or checksum, truncated, not a regular file, or named with `..` or an absolute path; a manifest path
that is not absolute and normal; a file the archived configuration does not name; another hall's backup (unless
forced); a schema newer than this release; a database a process holds. The files it replaces are renamed to
`<name>.before-restore-<time>` — never deleted — and the new ones written beside them, checked again, then renamed
into place with their recorded mode and owner. A restored database is marked for the cloud outbox
(edge/store/cloud.py `mark_restored`).

Owns the checks, the targets, the moves and the undo commands. It must not open the database through the store (a
restored file keeps the schema version it was backed up at) nor know a table; edge/cli/backup.py says what happens.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import hashlib
import json
import os
import pwd
import re
import shlex
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import yaml

from devices.validation import read_yaml
from edge.anchor import default_key_path
from edge.backup import (
    CHUNK,
    DEFAULT_DIR,
    FORMAT,
    MANIFEST,
    STAMP,
    BackupError,
    Entry,
    Manifest,
    Progress,
    member_name,
    named_paths,
)
from edge.store.cloud import has_cloud_streams, mark_restored
from edge.store.integrity import in_use
from edge.store.schema import VERSION

MAX_MANIFEST_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Moved:
    """A file the restore replaced: where it was, and where it now is."""

    path: Path
    aside: Path


def read_manifest(raw: bytes, archive: Path) -> Manifest:
    """The manifest from its JSON; BackupError naming the field for anything missing or of the wrong kind."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{archive}: {MANIFEST} is not JSON ({exc}): the archive is damaged") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise BackupError(f"{archive}: {MANIFEST} is not a hallops backup manifest (format {FORMAT!r} expected)")

    def field(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
        value = obj.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BackupError(f"{archive}: {MANIFEST} field {where}{key} is missing or not a {kind.__name__}")
        return value

    files = field(body, "files", list, "")
    entries = []
    for i, raw_entry in enumerate(files):
        where = f"files[{i}]."
        if not isinstance(raw_entry, dict):
            raise BackupError(f"{archive}: {MANIFEST} field files[{i}] is not an object")
        e = Entry(
            role=field(raw_entry, "role", str, where),
            path=field(raw_entry, "path", str, where),
            member=field(raw_entry, "member", str, where),
            size=field(raw_entry, "size", int, where),
            sha256=field(raw_entry, "sha256", str, where),
            mode=field(raw_entry, "mode", int, where),
            uid=field(raw_entry, "uid", int, where),
            gid=field(raw_entry, "gid", int, where),
            owner=field(raw_entry, "owner", str, where),
            group=field(raw_entry, "group", str, where),
        )
        if e.role not in {"database", "config", "file"}:
            raise BackupError(f"{archive}: {MANIFEST} field {where}role is {e.role!r}: database, config or file")
        _check_names(e, archive, where)
        entries.append(e)
    if sum(1 for e in entries if e.role == "database") != 1:
        raise BackupError(f"{archive}: {MANIFEST} must list exactly one database")
    if sum(1 for e in entries if e.role == "config") > 1:
        raise BackupError(f"{archive}: {MANIFEST} lists more than one configuration file")
    for key in ("path", "member"):
        values = [getattr(e, key) for e in entries]
        if len(set(values)) != len(values):
            raise BackupError(f"{archive}: {MANIFEST} lists one {key} twice")
    return Manifest(
        hallops_version=field(body, "hallops_version", str, ""),
        schema_version=field(body, "schema_version", int, ""),
        hall=field(body, "hall", str, ""),
        created_at=field(body, "created_at", str, ""),
        host=field(body, "host", str, ""),
        integrity_check=field(body, "integrity_check", str, ""),
        files=tuple(entries),
        kind=field(body, "kind", str, ""),
    )


def _check_names(e: Entry, archive: Path, where: str) -> None:
    """A path on the box is absolute and normal; a member is relative, normal and where its role puts it."""
    if not e.path.startswith("/") or os.path.normpath(e.path) != e.path or ".." in PurePosixPath(e.path).parts:
        raise BackupError(f"{archive}: {MANIFEST} field {where}path {e.path!r} is not an absolute, normal path")
    if not _safe_member(e.member):
        raise BackupError(f"{archive}: {MANIFEST} field {where}member {e.member!r} leaves the archive's folder")
    expected = f"database/{PurePosixPath(e.path).name}" if e.role == "database" else member_name(Path(e.path))
    if e.member != expected:
        raise BackupError(f"{archive}: {MANIFEST} field {where}member is {e.member!r}, expected {expected!r}")
    if not re.fullmatch(r"[0-9a-f]{64}", e.sha256) or e.size < 0 or not 0 <= e.mode <= 0o7777:
        raise BackupError(f"{archive}: {MANIFEST} field {where}sha256, size or mode is not valid")
    if e.mode & 0o022:
        raise BackupError(
            f"{archive}: {MANIFEST} field {where}mode {e.mode:04o} lets other users write {e.path}: refused"
        )


def _safe_member(name: str) -> bool:
    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name and "\x00" not in name


def verify(archive: Path, *, known_schema: int = VERSION) -> Manifest:
    """Read the whole archive: its manifest, then every member against it (name, type, size, SHA-256), nothing
    missing and nothing more. BackupError for the first thing wrong; nothing is written anywhere."""
    try:
        tar = tarfile.open(archive, mode="r:")  # noqa: SIM115 - its errors are the archive's, said apart from the rest
    except FileNotFoundError:
        raise BackupError(f"no such archive: {archive}") from None
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive} is not a readable tar archive ({exc}): damaged or not a hallops backup") from None
    with tar:
        manifest: Manifest | None = None
        seen: dict[str, str] = {}
        try:
            for info in tar:
                if not _safe_member(info.name):
                    raise BackupError(f"{archive}: the member {info.name!r} leaves the archive's folder: refused")
                if not info.isreg() or info.issparse():
                    raise BackupError(
                        f"{archive}: the member {info.name!r} is not a regular file (or is a sparse one): refused"
                    )
                if info.name in seen or (info.name == MANIFEST and manifest is not None):
                    raise BackupError(f"{archive}: the member {info.name!r} is there twice: refused")
                if info.name == MANIFEST:
                    if info.size > MAX_MANIFEST_BYTES:
                        raise BackupError(f"{archive}: {MANIFEST} is {info.size:,} bytes: not a hallops manifest")
                    data = _read(tar, info, archive)
                    manifest = read_manifest(data, archive)
                    continue
                if manifest is None:
                    raise BackupError(f"{archive}: {MANIFEST} is not its first member: not a hallops backup")
                listed_here = next((e for e in manifest.files if e.member == info.name), None)
                if listed_here is not None and listed_here.size != info.size:
                    raise BackupError(
                        f"{archive}: the member {info.name!r} is {info.size:,} bytes, its manifest says "
                        f"{listed_here.size:,}: refused"
                    )
                seen[info.name] = _digest(tar, info, archive)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BackupError(f"{archive} is damaged or truncated ({exc}): nothing was restored") from None
    if manifest is None:
        raise BackupError(f"{archive} holds no {MANIFEST}: not a hallops backup")
    listed = {e.member: e for e in manifest.files}
    for name in seen:
        if name not in listed:
            raise BackupError(f"{archive}: the member {name!r} is not in the manifest: refused")
    for e in manifest.files:
        if e.member not in seen:
            raise BackupError(f"{archive}: {e.member} ({e.path}) is missing: the archive is incomplete")
        if seen[e.member] != e.sha256:
            raise BackupError(f"{archive}: {e.path} does not match its SHA-256 in the manifest: the archive is damaged")
    if manifest.schema_version > known_schema:
        raise BackupError(
            f"{archive} holds a database of schema version {manifest.schema_version}, written by hallops "
            f"{manifest.hallops_version}; this release knows up to version {known_schema}: install hallops "
            f"{manifest.hallops_version} or newer to restore it"
        )
    return manifest


def _read(tar: tarfile.TarFile, info: tarfile.TarInfo, archive: Path) -> bytes:
    f = tar.extractfile(info)
    if f is None:
        raise BackupError(f"{archive}: {info.name!r} cannot be read")
    data = f.read()
    if len(data) != info.size:
        raise BackupError(f"{archive} is truncated inside {info.name!r}: nothing was restored")
    return data


def _digest(tar: tarfile.TarFile, info: tarfile.TarInfo, archive: Path, sink: IO[bytes] | None = None) -> str:
    f = tar.extractfile(info)
    if f is None:
        raise BackupError(f"{archive}: {info.name!r} cannot be read")
    digest = hashlib.sha256()
    size = 0
    while chunk := f.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    if size != info.size:
        raise BackupError(f"{archive} is truncated inside {info.name!r}: nothing was restored")
    return digest.hexdigest()


def check_hall(manifest: Manifest, present: str | None, *, force: bool) -> str | None:
    """None if the backup is this hall's (or no hall is configured here); the warning to say loudly when another
    hall's is restored with `force`; BackupError otherwise."""
    if present is None or present == manifest.hall:
        return None
    if not force:
        raise BackupError(
            f"this backup is of hall {manifest.hall!r}, and this box is hall {present!r} (hall.id in its "
            "configuration): refused. Restoring another hall's backup here makes this box that hall; if that is "
            "what you want, add --force-hall"
        )
    return (
        f"!!! RESTORING HALL {manifest.hall!r} OVER HALL {present!r} (--force-hall): after this, this box is hall "
        f"{manifest.hall!r}. Two boxes must never run as the same hall at once. !!!"
    )


def allowed_files(archive: Path, config_text: bytes, db: Path) -> tuple[set[Path], Path | None]:
    """The files a restore may write besides the database and the configuration: exactly the Path-typed fields of
    the archived configuration read as a GatewayConfig (edge/backup.py `named_paths`, the same list a backup takes),
    with the anchor key beside `db`; and that configuration's storage.path when it is absolute. BackupError if it is
    not a valid gateway configuration."""
    from pydantic import ValidationError  # noqa: PLC0415

    from edge.config import GatewayConfig  # noqa: PLC0415 - a restore of a pre-upgrade backup needs none of it

    try:
        raw = yaml.safe_load(config_text.decode("utf-8", "replace"))
        cfg = GatewayConfig.model_validate(raw if raw is not None else {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise BackupError(
            f"{archive}: the archived configuration is not a valid gateway configuration ({exc})"
        ) from None
    stored = cfg.storage.path if cfg.storage.path.is_absolute() else None
    return {path for _, path in named_paths(cfg, db)}, stored


# -- restoring --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """Where each member goes: the database to `db`, the configuration to `config`, the other files to their path."""

    targets: tuple[tuple[Entry, Path], ...]

    @property
    def db(self) -> Path:
        return next(p for e, p in self.targets if e.role == "database")


DEFAULT_DB = DEFAULT_DIR.parent / "hallops.db"


def plan(
    manifest: Manifest,
    archive: Path,
    *,
    db: Path | None,
    config: Path | None,
    default_db: Path = DEFAULT_DB,
    named_here: frozenset[Path] = frozenset(),
) -> Plan:
    """Targets for each member: the database only where this box's configuration keeps it (`db`; `default_db` when
    it names none, a new box), the configuration only at `config`; every other file where it was, which must be a
    Path field of the archived configuration (or the anchor key beside the database). A backup whose configuration
    keeps the database elsewhere than `db` is refused, naming both (the gateway would start on an empty one).
    A file outside the folders of the configuration and the database must be named by this box's configuration too
    (`named_here`): a tampered configuration could point a path field anywhere. BackupError otherwise."""
    database = manifest.database
    assert database is not None
    db_target = db or default_db
    config = Path(os.path.abspath(config)) if config is not None else None
    allowed: set[Path] = set()
    cfg_entry = manifest.config
    if cfg_entry is not None:
        if config is None:
            raise BackupError(f"{archive} holds a configuration, and no path was given for it: refused")
        allowed, stored = allowed_files(archive, _member_bytes(archive, cfg_entry.member), db_target)
        if stored is not None and stored != db_target:
            raise BackupError(
                f"the backup's configuration keeps the database at {stored}, and this box keeps it at {db_target} "
                f"(storage.path in {config}, or the default on a box without one): refused, since the restored "
                f"configuration would start the gateway on an empty database. Set storage.path: {stored} in {config} "
                "(or move the folders to match), then restore again"
            )
    anchor = default_key_path(db_target)
    old_anchor = str(default_key_path(Path(database.path)))
    targets: list[tuple[Entry, Path]] = []
    for e in manifest.files:
        if e.role == "database":
            targets.append((e, db_target))
        elif e.role == "config":
            assert config is not None
            targets.append((e, config))
        elif (e.path == old_anchor and cfg_entry is None) or Path(e.path) == anchor:
            targets.append((e, anchor))
        elif Path(e.path) in allowed:
            folders = {db_target.parent, *([config.parent] if config is not None else [])}
            if Path(e.path) not in named_here and not any(Path(e.path).is_relative_to(f) for f in folders):
                raise BackupError(
                    f"{archive}: {e.path} lies outside {' and '.join(str(f) for f in sorted(folders))} and this box's "
                    "configuration does not name it: refused (a changed archive could point a path field anywhere). "
                    "If the file is yours, copy it from the archive by hand (tar -xf)"
                )
            targets.append((e, Path(e.path)))
        else:
            raise BackupError(
                f"{archive}: {e.path} is not a file its configuration names: refused (a backup restores only the "
                "database, the configuration and the files named by its Path fields)"
            )
    return Plan(tuple(targets))


def _member_bytes(archive: Path, member: str) -> bytes:
    with tarfile.open(archive, mode="r:") as tar:
        info = tar.getmember(member)
        return _read(tar, info, archive)


def restore(
    archive: Path,
    manifest: Manifest,
    where: Plan,
    *,
    cloud: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> list[Moved]:
    """Put the archive's files in place: refused while a process holds the database; each new file written beside
    its target and checked against its SHA-256 again; then each present file renamed aside (never deleted) and the
    new one renamed into place with its recorded mode (and owner, when run as root). The restored database is marked
    restored for the cloud outbox (edge/store/cloud.py) when the hall has a cloud (`cloud`) or its file holds cloud
    streams. Returns what was moved aside."""
    now = now or datetime.now(UTC)
    say = progress or (lambda _text: None)
    busy = in_use(where.db)
    if busy is not None:
        raise BackupError(
            f"{busy.path} {busy.finding}: stop the gateway first (systemctl stop hallops-gateway), then restore"
        )
    suffix = f".before-restore-{now.astimezone(UTC).strftime(STAMP)}"
    owners = _owners(where.db.parent)
    staged: list[tuple[Entry, Path, Path]] = []
    try:
        for _entry, target in where.targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            _check_folder(target, data=where.db.parent)
        _check_room(where)
        with tarfile.open(archive, mode="r:") as tar:
            for entry, target in where.targets:
                fd, name = tempfile.mkstemp(prefix=f".{target.name}.restoring-", dir=target.parent)
                temp = Path(name)
                staged.append((entry, target, temp))
                with os.fdopen(fd, "wb") as f:
                    if _digest(tar, tar.getmember(entry.member), archive, f) != entry.sha256:
                        raise BackupError(f"{archive}: {entry.path} changed while it was read: nothing was restored")
                    f.flush()
                    os.fsync(f.fileno())
                    _set_owner(f.fileno(), entry, owners)
                say(f"checked {entry.path} ({entry.size:,} bytes)")
        mark = _mark(staged, cloud, archive)
        if mark is not None:
            say(
                "cloud outbox: marked restored; the gateway sends nothing to the cloud until the cloud has said what "
                f"it holds (each stream's last number here: {mark or 'none yet'})"
            )
    except BaseException as exc:
        for _, _, temp in staged:
            temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BackupError(
                f"the files could not be staged beside their targets: {_oserror(exc)}: nothing was restored"
            ) from exc
        if isinstance(exc, sqlite3.Error):
            raise BackupError(f"{archive}: the database in it cannot be opened ({exc}): nothing was restored") from exc
        raise
    moved: list[Moved] = []
    placed: list[Path] = []
    try:
        for entry, target, temp in staged:
            sides = [target]
            if entry.role == "database":
                sides += [target.with_name(target.name + s) for s in ("-wal", "-shm", "-journal")]
            for side in sides:
                if side.exists():
                    if side == target:
                        aside = target.with_name(target.name + suffix)
                    else:  # hallops.db-wal → hallops.db.before-restore-T-wal: SQLite opens the pair together
                        aside = target.with_name(target.name + suffix + side.name[len(target.name) :])
                    side.rename(aside)
                    moved.append(Moved(side, aside))
            temp.replace(target)
            placed.append(target)
            say(f"restored {target}")
    except OSError as exc:  # (a full disk cannot stop a rename; a read-only folder, a file made immutable can)
        for _, _, temp in staged:
            temp.unlink(missing_ok=True)
        back = (
            "; ".join([*(f"rm {_q(p)}" for p in placed), *(f"mv {_q(m.aside)} {_q(m.path)}" for m in moved)])
            or "nothing"
        )
        raise BackupError(
            f"the restore stopped halfway: {exc.strerror or exc} ({exc.filename}). To put back what it changed: {back}"
        ) from exc
    return moved


def _mark(staged: list[tuple[Entry, Path, Path]], cloud: bool, archive: Path) -> dict[str, int] | None:
    """Check the staged database (`PRAGMA quick_check`), then mark it restored for the cloud outbox, before it takes
    the live file's place: when the hall has a cloud or the file holds cloud streams (a hall that never had one is
    left byte for byte as backed up). BackupError for a file that is not a sound SQLite database."""
    for entry, _target, temp in staged:
        if entry.role == "database":
            db = sqlite3.connect(temp, isolation_level=None)
            try:
                found = [str(r[0]) for r in db.execute("PRAGMA quick_check(5)")]
                if found != ["ok"]:
                    raise BackupError(
                        f"{archive}: its database fails quick_check ({'; '.join(found)}): nothing was restored"
                    )
                if cloud or has_cloud_streams(db):
                    return mark_restored(db)
            finally:
                db.close()
    return None


def _q(path: Path | str) -> str:
    return shlex.quote(str(path))


def _oserror(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device{where}: free space (`df -h`), then restore again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{exc.strerror}{where}: a restore writes the database and the configuration; run it as root (sudo)"
    return f"{exc.strerror or exc}{where}"


def _owners(data: Path) -> tuple[set[int], set[int]]:
    """The owners a restored file may get: root, and the owner (and group) of the data folder."""
    try:
        st = data.stat()
    except OSError:
        return {0}, {0}
    return {0, st.st_uid}, {0, st.st_gid}


def _check_folder(target: Path, *, data: Path) -> None:
    """Refuse a target whose folder is a symlink, or (as root) whose folder another user can write, but for the
    database's own folder `data` (the gateway's, named by this box's configuration, owned by its service user: the
    database and the audit key beside it)."""
    parent = target.parent
    if parent.is_symlink():
        raise BackupError(f"the folder {parent} (for {target}) is a symbolic link: refused")
    if os.geteuid() != 0 or parent.resolve() == data.resolve():
        return
    st = parent.stat()
    if st.st_uid != 0 or st.st_mode & 0o022:
        raise BackupError(
            f"the folder {parent} (for {target}) can be written by a user other than root "
            f"(owner uid {st.st_uid}, mode {st.st_mode & 0o7777:04o}): refused. Make it root's "
            f"(chown root: {_q(parent)}; chmod go-w {_q(parent)}), then restore again"
        )


def _check_room(where: Plan) -> None:
    """Refuse before staging when a file system has less free space than the files staged on it (plus 1 MiB)."""
    need: dict[int, tuple[Path, int]] = {}
    for entry, target in where.targets:
        dev = target.parent.stat().st_dev
        folder, size = need.get(dev, (target.parent, 0))
        need[dev] = (folder, size + entry.size)
    for folder, size in need.values():
        fs = os.statvfs(folder)
        free = fs.f_bavail * fs.f_frsize
        if free < size + (1 << 20):
            raise BackupError(
                f"{folder} has {free:,} bytes free and the restore needs {size:,} there: free space "
                f"(`df -h {_q(folder)}`), then restore again; nothing was changed"
            )


def _set_owner(fd: int, entry: Entry, owners: tuple[set[int], set[int]]) -> None:
    """The recorded mode without set-id or sticky bits; as root, the recorded owner and group only when root or the
    data folder's (else root)."""
    mode = entry.mode & 0o755
    os.fchmod(fd, mode)
    if os.geteuid() != 0:
        return
    try:
        uid = pwd.getpwnam(entry.owner).pw_uid
    except KeyError:
        uid = entry.uid
    try:
        gid = grp.getgrnam(entry.group).gr_gid
    except KeyError:
        gid = entry.gid
    with contextlib.suppress(OSError):
        os.fchown(fd, uid if uid in owners[0] else 0, gid if gid in owners[1] else 0)
    os.fchmod(fd, mode)


@dataclass(frozen=True, slots=True)
class Present:
    """What this box's configuration says now, read as YAML only (the files it names may be the ones restored)."""

    hall: str | None = None
    db: Path | None = None  # storage.path, when it is absolute
    cloud: bool = False  # cloud.url is set
    files: frozenset[Path] = frozenset()  # what its Path fields name (edge/backup.py named_paths), if it is valid


def present(config: Path) -> Present:
    """The configuration at `config` as it is now, or an empty `Present` if there is none (a new box).
    ConfigError if it is not YAML."""
    if not config.is_file():
        return Present()
    return _present(read_yaml(config))


def _present(raw: object) -> Present:
    def section(name: str) -> dict[str, object]:
        value = raw.get(name) if isinstance(raw, dict) else None
        return value if isinstance(value, dict) else {}

    hall, storage, cloud = section("hall").get("id"), section("storage").get("path"), section("cloud").get("url")
    db = Path(storage) if isinstance(storage, str) and storage.startswith("/") else None
    return Present(str(hall) if hall is not None else None, db, bool(cloud), _named(raw, db))


def _named(raw: object, db: Path | None) -> frozenset[Path]:
    """The paths the configuration's Path fields name; none if it is not a valid gateway configuration."""
    from pydantic import ValidationError  # noqa: PLC0415

    from edge.config import GatewayConfig  # noqa: PLC0415

    try:
        cfg = GatewayConfig.model_validate(raw if raw is not None else {})
    except ValidationError:
        return frozenset()
    return frozenset(path for _, path in named_paths(cfg, db or DEFAULT_DB))


def archived(archive: Path, manifest: Manifest) -> Present:
    """What the archived configuration says (empty for a pre-upgrade backup, which holds none)."""
    entry = manifest.config
    if entry is None:
        return Present()
    try:
        return _present(yaml.safe_load(_member_bytes(archive, entry.member).decode("utf-8", "replace")))
    except yaml.YAMLError:
        return Present()


def undo_lines(moved: list[Moved], where: Plan) -> Iterator[str]:
    """The shell commands that put back what the restore replaced (the gateway stopped)."""
    back = {m.path for m in moved}
    yield f"rm -f {_q(f'{where.db}-wal')} {_q(f'{where.db}-shm')}"
    for _, path in where.targets:
        if path not in back:
            yield f"rm {_q(path)}"
    for m in moved:
        yield f"mv {_q(m.aside)} {_q(m.path)}"
