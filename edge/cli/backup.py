"""`hallops backup` and `hallops restore`: a hall's box saved while the gateway runs, and put back (docs/backup.md).

Owns the flags, the progress and the messages: what was written where, what was refused and why, what the restore
moved aside and how to undo it. The archive's format and the copy are edge/backup.py's, the checks and the moves
edge/restore.py's.

Exit codes: 0 done (or, with `restore --check`, the archive is sound); 2 the configuration cannot be read; 3 the
database cannot be used (edge/store/integrity.py); 4 the backup could not be made, or the archive was refused.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from devices.errors import ConfigError
from edge.cli.terminal import say

DEFAULT_CONFIG = Path("/etc/hallops/gateway.yaml")
EXIT_REFUSED = 4


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `backup` and `restore`."""
    backup = sub.add_parser(
        "backup", help="save the database (while the gateway runs), the configuration and its keys in one archive"
    )
    backup.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"the gateway's YAML ({DEFAULT_CONFIG})")
    backup.add_argument(
        "--out", type=Path, help="the archive to write (default: <storage.backups_dir>/<hall>-<time>.tar)"
    )
    backup.add_argument(
        "--keep", type=_count, metavar="N", help="then delete all but the newest N backups of this hall in that folder"
    )
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore", help="put a backup back (the gateway stopped); what it replaces is kept aside, never deleted"
    )
    restore.add_argument("archive", type=Path, help="a .tar from `hallops backup`, or a pre-upgrade backup")
    restore.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"the gateway's YAML ({DEFAULT_CONFIG})")
    restore.add_argument("--check", action="store_true", help="only check the archive; change nothing")
    restore.add_argument(
        "--force-hall", action="store_true", help="restore another hall's backup here (this box becomes that hall)"
    )
    restore.set_defaults(func=cmd_restore)


def _count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


def cmd_backup(args: argparse.Namespace) -> int:
    from edge.backup import BackupError, config_files, default_name, make_backup, rotate  # noqa: PLC0415
    from edge.config import load_config  # noqa: PLC0415 - keep `hallops --help` fast

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        say(f"hallops backup: {exc}")
        return 2
    assert cfg.hall.id is not None
    now = datetime.now(UTC)
    db = cfg.storage.path
    out: Path = args.out or cfg.storage.backups() / default_name(cfg.hall.id, now)
    files = [path for _, path in config_files(cfg, db)]
    say(f"hallops backup: hall {cfg.hall.id} · database {db} · {len(files)} file(s) named by {args.config}")
    try:
        manifest = make_backup(
            out,
            hall=cfg.hall.id,
            db=db,
            config=args.config,
            files=files,
            now=now,
            progress=lambda text: say(f"hallops backup: {text}"),
        )
    except BackupError as exc:
        say(f"hallops backup: FAILED: {exc}")
        return EXIT_REFUSED
    size = out.stat().st_size
    say(
        f"hallops backup: written {out} ({size / 1e6:,.1f} MB, schema version {manifest.schema_version}, "
        f"{len(manifest.files)} files, integrity_check: {manifest.integrity_check}) · 备份完成"
    )
    if args.keep:
        for gone in rotate(out.parent, cfg.hall.id, args.keep):
            say(f"hallops backup: deleted the older backup {gone} (--keep {args.keep})")
    if manifest.integrity_check != "ok":
        say("hallops backup: the database copy is damaged (see integrity_check above): keep the older backups")
        return EXIT_REFUSED
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from edge.backup import BackupError  # noqa: PLC0415 - keep `hallops --help` fast
    from edge.restore import (  # noqa: PLC0415
        archived,
        check_hall,
        plan,
        present,
        restore,
        undo_lines,
        verify,
    )

    archive: Path = args.archive
    say(f"hallops restore: checking {archive} …")
    try:
        here = present(args.config)
        manifest = verify(archive)
        say(
            f"hallops restore: a {manifest.kind} of hall {manifest.hall!r} made {manifest.created_at} on "
            f"{manifest.host} by hallops {manifest.hallops_version} (schema version {manifest.schema_version}); "
            f"{len(manifest.files)} files, every checksum right"
        )
        warning = check_hall(manifest, here.hall, force=args.force_hall)
        if warning:
            say(warning)
        if here.hall is None:
            say(f"hallops restore: no configuration at {args.config} yet: the archive's hall is taken")
        where = plan(
            manifest, archive, db=here.db, config=args.config if manifest.config else None, named_here=here.files
        )
        if args.check:
            for entry, target in where.targets:
                say(f"hallops restore: would restore {target} ({entry.size:,} bytes, mode {entry.mode:04o})")
            say("hallops restore: the archive is sound (--check: nothing changed) · 备份文件完好")
            return 0
        moved = restore(
            archive,
            manifest,
            where,
            cloud=here.cloud or archived(archive, manifest).cloud,
            progress=lambda text: say(f"hallops restore: {text}"),
        )
    except ConfigError as exc:
        say(f"hallops restore: {exc}")
        return 2
    except BackupError as exc:
        say(f"hallops restore: REFUSED: {exc} · 未恢复")
        return EXIT_REFUSED
    for m in moved:
        say(f"hallops restore: kept the previous {m.path} as {m.aside}")
    say(f"hallops restore: done: hall {manifest.hall!r} as it was at {manifest.created_at} · 恢复完成")
    say(
        "hallops restore: WARNING: the broker's password and ACL files (/etc/mosquitto/hallops.passwd, "
        "hallops.acl) are not in a backup: a device added after "
        f"{manifest.created_at} may still log in to the broker though the restored registry does not know it. "
        "Compare `cut -d: -f1 /etc/mosquitto/hallops.passwd` with `hallops devices list`, and remove a line the list "
        "lacks (`sudo hallops devices revoke <id> …` takes its line out, then `sudo systemctl reload mosquitto`) · "
        "请核对 MQTT 密码文件中的设备"
    )
    say("hallops restore: start the gateway again (systemctl start hallops-gateway). To undo, with it stopped:")
    for line in undo_lines(moved, where):
        say(f"    {line}")
    return 0
