"""`hallops backup` and `hallops restore` on a real database and real files in a temporary folder: the archive and its
manifest, a round trip that gives the same hall back and keeps the replaced files aside, and every kind of archive a
restore must refuse before it changes anything (a flipped byte, a member missing or added, a path that leaves its
place, another hall's backup, a newer schema, a truncated file, a database a process holds)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pwd
import shlex
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.backup import MANIFEST, BackupError, Entry, _advice, rotate
from edge.cli import main
from edge.restore import Moved, Plan, plan, present, undo_lines, verify
from edge.store import Store
from edge.store.schema import VERSION

HALL = "h1"


@dataclass
class Box:
    """A hall's box in a folder: its configuration, database, MQTT password file and the anchor key beside the db."""

    root: Path
    config: Path
    db: Path
    password: Path
    backups: Path


@pytest.fixture
def box(tmp_path: Path) -> Box:
    root = tmp_path / "box"
    (root / "etc").mkdir(parents=True)
    (root / "var").mkdir()
    db = root / "var" / "hallops.db"
    password = root / "etc" / "mqtt.pass"
    password.write_text("s3cret-password-of-the-gateway\n")
    password.chmod(0o600)
    config = root / "etc" / "gateway.yaml"
    config.write_text(
        f"hall: {{id: {HALL}}}\nstorage: {{path: {db}}}\nmqtt: {{username: gw, password_file: {password}}}\n"
    )
    config.chmod(0o640)
    (root / "var" / "hallops-audit.key").write_text("not read by a backup\n")
    store = Store(db)
    with store.transaction():
        store.meta.set("marker", "before")
    store.close()
    return Box(root, config, db, password, root / "var" / "backups")


def backup(box: Box, *extra: str) -> Path:
    out = box.backups / "one.tar"
    assert main(["backup", "--config", str(box.config), "--out", str(out), *extra]) == 0
    return out


def restore(box: Box, archive: Path, *extra: str) -> int:
    return main(["restore", str(archive), "--config", str(box.config), *extra])


def marker(db: Path) -> str:
    with sqlite3.connect(db) as c:
        return str(c.execute("SELECT value FROM meta WHERE key = 'marker'").fetchone()[0])


def set_marker(db: Path, value: str) -> None:
    store = Store(db)
    with store.transaction():
        store.meta.set("marker", value)
    store.close()


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        out = {}
        for info in tar:
            f = tar.extractfile(info)
            assert f is not None
            out[info.name] = f.read()
        return out


def rewrite(archive: Path, parts: dict[str, bytes], *, kinds: dict[str, bytes] | None = None) -> None:
    """Write `parts` as the archive's regular members, in order; `kinds` names members of another type."""
    with tarfile.open(archive, "w") as tar:
        for name, data in parts.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if kinds and name in kinds:
                info.type = kinds[name]
                info.size = 0
                info.linkname = "/etc/passwd"
                tar.addfile(info)
            else:
                tar.addfile(info, io.BytesIO(data))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_archive_holds_the_database_the_config_and_the_files_it_names(
    box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    out = backup(box)
    assert out.stat().st_mode & 0o777 == 0o600
    manifest = json.loads(members(out)[MANIFEST])
    assert (manifest["hall"], manifest["schema_version"], manifest["integrity_check"]) == (HALL, VERSION, "ok")
    by_path = {f["path"]: f for f in manifest["files"]}
    assert set(by_path) == {str(box.db), str(box.config), str(box.password), str(box.db.with_name("hallops-audit.key"))}
    assert by_path[str(box.config)]["mode"] == 0o640
    for f in manifest["files"]:
        data = members(out)[f["member"]]
        assert (len(data), hashlib.sha256(data).hexdigest()) == (f["size"], f["sha256"])
    assert "written" in capsys.readouterr().err


def test_a_restore_gives_the_hall_back_and_keeps_what_it_replaced(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    set_marker(box.db, "after")
    box.config.write_text(box.config.read_text() + "# edited after the backup\n")
    box.password.unlink()  # lost since
    assert restore(box, out) == 0
    assert marker(box.db) == "before"
    assert "edited" not in box.config.read_text()
    assert box.config.stat().st_mode & 0o777 == 0o640
    assert box.password.read_text() == "s3cret-password-of-the-gateway\n"
    assert box.password.stat().st_mode & 0o777 == 0o600
    aside = sorted(p.name for p in box.db.parent.iterdir() if ".before-restore-" in p.name)
    assert any(n.startswith("hallops.db.before-restore-") for n in aside)
    (old_db,) = [box.db.parent / n for n in aside if n.startswith("hallops.db.") and n.count("-") == 2]
    assert marker(old_db) == "after"  # the replaced database is kept, whole
    assert any("edited" in p.read_text() for p in box.config.parent.glob("gateway.yaml.before-restore-*"))
    err = capsys.readouterr().err
    assert "To undo" in err and f"mv {old_db} {box.db}" in err


def test_a_restored_database_is_the_backed_up_file_at_its_version(box: Box) -> None:
    out = backup(box)
    with sqlite3.connect(box.db) as c:
        c.execute("PRAGMA user_version = 3")  # as if an older release had written it: the copy keeps its version
    out2 = box.backups / "two.tar"
    assert main(["backup", "--config", str(box.config), "--out", str(out2)]) == 0
    assert json.loads(members(out2)[MANIFEST])["schema_version"] == 3
    assert restore(box, out2) == 0
    with sqlite3.connect(box.db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 3  # not migrated by the restore
    assert restore(box, out) == 0


def refused(box: Box, archive: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    before = {p: sha(p) for p in (box.db, box.config, box.password)}
    assert restore(box, archive, *extra) == 4
    assert {p: sha(p) for p in before} == before  # nothing changed
    assert not [p for p in box.root.rglob("*") if "before-restore" in p.name or ".restoring-" in p.name]
    return capsys.readouterr().err


def test_a_flipped_byte_is_refused(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    parts = members(out)
    db = bytearray(parts["database/hallops.db"])
    db[len(db) // 2] ^= 0x01
    parts["database/hallops.db"] = bytes(db)
    rewrite(out, parts)
    assert "does not match its SHA-256" in refused(box, out, capsys)


def test_a_missing_file_is_refused(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    parts = members(out)
    del parts["files" + str(box.password)]
    rewrite(out, parts)
    assert f"{box.password}) is missing" in refused(box, out, capsys)


def test_an_extra_file_is_refused(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    rewrite(out, {**members(out), "files/etc/cron.d/evil": b"* * * * * root sh\n"})
    assert "'files/etc/cron.d/evil' is not in the manifest" in refused(box, out, capsys)


@pytest.mark.parametrize("name", ["../evil", "/etc/evil", "files/../../evil", "a/..\\..\\evil"])
def test_a_member_that_leaves_the_folder_is_refused(box: Box, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    rewrite(out, {**members(out), name: b"x"})
    assert "leaves the archive's folder" in refused(box, out, capsys)


def test_a_link_member_is_refused(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    rewrite(out, {**members(out), "files/link": b""}, kinds={"files/link": tarfile.SYMTYPE})
    assert "is not a regular file" in refused(box, out, capsys)


def test_a_manifest_that_writes_outside_its_files_is_refused(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    parts = members(out)
    manifest = json.loads(parts[MANIFEST])
    evil = b"root::0:0::/root:/bin/sh\n"
    entry = dict(manifest["files"][-1], path="/etc/passwd", member="files/etc/passwd", size=len(evil))
    entry["sha256"] = hashlib.sha256(evil).hexdigest()
    manifest["files"].append(entry)
    parts[MANIFEST] = json.dumps(manifest).encode()
    parts["files/etc/passwd"] = evil
    rewrite(out, parts)
    assert "/etc/passwd is not a file its configuration names" in refused(box, out, capsys)
    manifest["files"][-1] = dict(entry, path="/var/lib/../../etc/passwd", member="files/var/lib/../../etc/passwd")
    parts = {k: v for k, v in parts.items() if k != "files/etc/passwd"}
    parts[MANIFEST] = json.dumps(manifest).encode()
    parts["files/var/lib/../../etc/passwd"] = evil
    rewrite(out, parts)
    assert "'/var/lib/../../etc/passwd' is not an absolute, normal path" in refused(box, out, capsys)


def test_another_halls_backup_is_refused_unless_forced(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    set_marker(box.db, "after")
    box.config.write_text(box.config.read_text().replace(f"id: {HALL}", "id: h2"))
    err = refused(box, out, capsys)
    assert "of hall 'h1', and this box is hall 'h2'" in err and "--force-hall" in err
    assert restore(box, out, "--force-hall") == 0
    assert "RESTORING HALL 'h1' OVER HALL 'h2'" in capsys.readouterr().err
    assert marker(box.db) == "before"


def test_a_newer_schema_is_refused(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    parts = members(out)
    manifest = json.loads(parts[MANIFEST])
    manifest["schema_version"] = VERSION + 1
    manifest["hallops_version"] = "9.9.9"
    parts[MANIFEST] = json.dumps(manifest).encode()
    rewrite(out, parts)
    err = refused(box, out, capsys)
    assert f"schema version {VERSION + 1}" in err and "install hallops 9.9.9 or newer" in err


@pytest.mark.parametrize("member", [0, 1, -1])  # cut inside the manifest, the database, the last file
def test_a_truncated_archive_is_refused(box: Box, member: int, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    with tarfile.open(out) as tar:
        info = tar.getmembers()[member]
    data = out.read_bytes()
    out.write_bytes(data[: info.offset_data + info.size // 2])
    err = refused(box, out, capsys)
    assert "truncated" in err or "is missing" in err


def test_not_an_archive_is_refused(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    junk = box.root / "junk.tar"
    junk.write_bytes(b"SQLite format 3\x00" + b"\x01" * 600)
    assert "is not a readable tar archive" in refused(box, junk, capsys)
    empty = box.root / "empty.tar"
    rewrite(empty, {"notes.txt": b"hello"})
    assert "not its first member" in refused(box, empty, capsys)


def test_a_restore_is_refused_while_a_process_holds_the_database(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA journal_mode=WAL');"
            " c.execute('SELECT count(*) FROM meta').fetchall(); print('open', flush=True); sys.stdin.read()",
            str(box.db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        err = refused(box, out, capsys)
        assert f"process {holder.pid}" in err and "stop the gateway first" in err
    finally:
        holder.communicate("")
    assert restore(box, out) == 0


def test_check_changes_nothing(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    set_marker(box.db, "after")
    assert restore(box, out, "--check") == 0
    assert marker(box.db) == "after"
    assert "the archive is sound" in capsys.readouterr().err


def test_keep_rotates_this_halls_regular_backups_only(tmp_path: Path) -> None:
    names = [f"h1-2026120{d}T000000Z.tar" for d in range(1, 6)]
    names += ["h1-pre-upgrade-v7-20261201T000000Z.tar", "h2-20261201T000000Z.tar", "notes.txt"]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    gone = rotate(tmp_path, "h1", 2)
    assert [p.name for p in gone] == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[3:])


def test_a_backup_of_a_missing_database_says_so(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    box.db.unlink()
    assert main(["backup", "--config", str(box.config), "--out", str(box.root / "x.tar")]) == 4
    assert f"no database at {box.db}" in capsys.readouterr().err
    assert not [p for p in box.root.iterdir() if p.name.startswith(".") or p.suffix == ".tar"]  # nothing half-made


def test_a_restore_stopped_halfway_says_how_to_put_things_back(
    box: Box, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = backup(box)
    set_marker(box.db, "after")
    real = Path.replace

    def replace(self: Path, target: Path) -> Path:  # a folder that refuses writes, met after the database was put back
        if Path(target).name == box.password.name:
            raise OSError(30, "Read-only file system", str(target))
        return real(self, target)

    monkeypatch.setattr(Path, "replace", replace)
    assert restore(box, out) == 4
    err = capsys.readouterr().err
    assert "the restore stopped halfway: Read-only file system" in err
    aside = next(box.db.parent.glob("hallops.db.before-restore-*"))
    assert f"mv {aside} {box.db}" in err and f"rm {box.db}" in err  # the way back, said
    assert not list(box.root.rglob("*.restoring-*"))  # nothing half-written left behind
    assert marker(aside) == "after"  # and the replaced file kept


# -- a tampered archive (written by anyone who can write the backups folder) -------------------------------------


def tamper(out: Path, change: Callable[[dict[str, Any], dict[str, bytes]], None]) -> None:
    """Rewrite the archive after `change(manifest, parts)`, with every checksum and size made right again."""
    parts = members(out)
    manifest = json.loads(parts[MANIFEST])
    change(manifest, parts)
    for e in manifest["files"]:
        e.update(size=len(parts[e["member"]]), sha256=hashlib.sha256(parts[e["member"]]).hexdigest())
    parts[MANIFEST] = json.dumps(manifest).encode()
    rewrite(out, {MANIFEST: parts.pop(MANIFEST), **parts})


def entry_of(manifest: dict[str, Any], role: str) -> dict[str, Any]:
    return next(e for e in manifest["files"] if e["role"] == role)


def test_a_file_named_only_by_a_string_field_is_refused(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    evil = box.root / "outside" / "evil"

    def change(manifest: dict[str, Any], parts: dict[str, bytes]) -> None:
        cfg = entry_of(manifest, "config")
        parts[cfg["member"]] = parts[cfg["member"]].replace(
            b"hall: {id: h1}", f"hall: {{id: h1, name: '{evil}'}}".encode()
        )
        manifest["files"].append(dict(cfg, role="file", path=str(evil), member=f"files{evil}", mode=0o4755))
        parts[f"files{evil}"] = b"#!/bin/sh\nid\n"

    tamper(out, change)
    assert f"{evil} is not a file its configuration names" in refused(box, out, capsys)
    assert not evil.exists()


def test_set_id_bits_are_never_restored_and_writable_modes_are_refused(
    box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    out = backup(box)
    tamper(out, lambda m, _p: next(e for e in m["files"] if e["path"] == str(box.password)).update(mode=0o666))
    assert "mode 0666 lets other users write" in refused(box, out, capsys)
    tamper(out, lambda m, _p: next(e for e in m["files"] if e["path"] == str(box.password)).update(mode=0o6755))
    assert restore(box, out) == 0
    assert box.password.stat().st_mode & 0o7777 == 0o755  # no setuid, no setgid


def test_the_database_goes_only_where_this_box_keeps_it(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    elsewhere = box.root / "outside" / "passwd"
    elsewhere.parent.mkdir()
    elsewhere.write_text("root:x:0:0::/root:/bin/bash\n")

    def change(manifest: dict[str, Any], parts: dict[str, bytes]) -> None:
        db = entry_of(manifest, "database")
        parts["database/passwd"] = parts.pop(db["member"])
        db.update(path=str(elsewhere), member="database/passwd")

    tamper(out, change)
    set_marker(box.db, "after")
    assert restore(box, out) == 0
    assert elsewhere.read_text() == "root:x:0:0::/root:/bin/bash\n"
    assert marker(box.db) == "before"


def test_a_new_box_takes_the_database_at_the_default_place_only(box: Box) -> None:
    out = backup(box)
    manifest = verify(out)
    new = box.config.with_name("new.yaml")  # a new box: no configuration at --config yet
    with pytest.raises(BackupError, match=f"keeps the database at {box.db}, and this box keeps it at /var/lib/hallops"):
        plan(manifest, out, db=present(new).db, config=new)
    where = plan(manifest, out, db=present(new).db, config=new, default_db=box.db)
    assert where.db == box.db


def test_a_backup_that_keeps_its_database_elsewhere_is_refused_naming_both(
    box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    out = backup(box)
    here = box.root / "srv" / "hallops.db"
    box.config.write_text(box.config.read_text().replace(str(box.db), str(here)))
    before = box.config.read_text()
    err = refused(box, out, capsys)
    assert f"keeps the database at {box.db}, and this box keeps it at {here}" in err
    assert box.config.read_text() == before and not here.exists()


def test_a_symlinked_target_folder_is_refused(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    real = box.root / "etc-real"
    (box.root / "etc").rename(real)
    (box.root / "etc").symlink_to(real)
    out = backup(box)
    assert f"the folder {box.root / 'etc'} (for {box.config}) is a symbolic link" in refused(box, out, capsys)


def test_as_root_a_target_folder_others_can_write_is_refused(
    box: Box, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = backup(box)
    (box.root / "etc").chmod(0o777)
    monkeypatch.setattr("edge.restore.os.geteuid", lambda: 0)
    assert "can be written by a user other than root" in refused(box, out, capsys)
    assert marker(box.db) == "before" and not list(box.root.rglob("*.before-restore-*"))


def test_as_root_the_gateways_own_data_folder_is_written_though_its_service_user_owns_it(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the package's /var/lib/hallops is hallops:hallops 0750: the database and the audit key beside it are restored
    # there (the installed package's check refused the key: "the folder /var/lib/hallops … can be written by a user
    # other than root"); here the folder is writable by its group, as good as another owner for the check
    out = backup(box)
    set_marker(box.db, "after")
    (box.root / "var").chmod(0o770)
    monkeypatch.setattr("edge.restore.os.geteuid", lambda: 0)
    assert restore(box, out) == 0
    assert marker(box.db) == "before"
    assert (box.root / "var" / "hallops-audit.key").read_text() == "not read by a backup\n"


def test_a_sparse_member_and_a_size_other_than_the_manifests_are_refused(
    box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    out = backup(box)
    parts = members(out)
    name = next(n for n in parts if n.endswith("mqtt.pass"))
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        for n, data in parts.items():
            info = tarfile.TarInfo(n)
            info.size = len(data)
            if n == name:
                info.type = tarfile.GNUTYPE_SPARSE
            tar.addfile(info, io.BytesIO(data))
    assert "(or is a sparse one)" in refused(box, out, capsys)
    parts[name] += b"x"
    rewrite(out, parts)
    assert f"the member {name!r} is {len(parts[name]):,} bytes, its manifest says" in refused(box, out, capsys)


def test_a_database_member_that_is_not_sqlite_is_refused(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    tamper(out, lambda m, p: p.update({entry_of(m, "database")["member"]: b"not a database at all"}))
    assert "the database in it cannot be opened" in refused(box, out, capsys)
    assert marker(box.db) == "before" and not list(box.root.rglob("*.restoring-*"))


def test_a_full_disk_is_a_refusal_before_or_while_staging(
    box: Box, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = backup(box)
    set_marker(box.db, "after")
    real = os.statvfs
    monkeypatch.setattr("edge.restore.os.statvfs", lambda p: os.statvfs_result((4096, 4096, 10, 1, 1, 0, 0, 0, 0, 255)))
    assert "bytes free and the restore needs" in refused(box, out, capsys)
    monkeypatch.setattr("edge.restore.os.statvfs", real)

    def full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("edge.restore.os.fsync", full)
    assert "no space left on the device" in refused(box, out, capsys)
    assert marker(box.db) == "after" and not list(box.root.rglob("*.restoring-*"))


def test_the_undo_commands_are_shell_quoted(tmp_path: Path) -> None:
    db = tmp_path / "数据 dir" / "hallops.db"
    pw = tmp_path / "etc" / "密码 $(id).pass"
    aside = db.with_name("hallops.db.before-restore-T")
    entry = Entry("database", str(db), "database/hallops.db", 0, "0" * 64, 0o600, 0, 0, "root", "root")
    lines = list(undo_lines([Moved(db, aside)], Plan(((entry, db), (dataclasses.replace(entry, role="file"), pw)))))
    assert [shlex.split(line) for line in lines] == [
        ["rm", "-f", f"{db}-wal", f"{db}-shm"],
        ["rm", str(pw)],
        ["mv", str(aside), str(db)],
    ]


def test_a_writer_never_truncates_another_writers_partial_archive(box: Box) -> None:
    other = box.backups / ".one.tar.partial"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"another gateway's archive, half written")
    out = backup(box)
    assert other.read_bytes() == b"another gateway's archive, half written"
    assert verify(out).hall == HALL


def test_a_backup_made_by_root_belongs_to_the_data_folders_owner(box: Box) -> None:
    # as root, as the test command runs (it installs with apt-get): giving a folder to another user needs root
    nobody = pwd.getpwnam("nobody")
    os.chown(box.db.parent, nobody.pw_uid, nobody.pw_gid)
    out = backup(box)
    assert (out.parent.stat().st_uid, out.stat().st_uid) == (nobody.pw_uid, nobody.pw_uid)


def test_a_pre_upgrade_backup_refused_a_folder_says_whose_it_is(tmp_path: Path) -> None:
    advice = _advice(PermissionError(13, "Permission denied"), tmp_path)
    assert "cannot write" in advice and "chown" in advice and "Free space" not in advice
    assert "Free space" in _advice(OSError(28, "No space left on device"), tmp_path)


def test_a_restore_warns_that_the_brokers_password_file_may_hold_unknown_devices(
    box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    out = backup(box)
    capsys.readouterr()
    assert restore(box, out) == 0
    err = capsys.readouterr().err
    assert "may still log in to the broker though the restored registry does not know it" in err
    assert "hallops devices revoke <id>" in err


def test_a_device_added_after_the_backup_can_still_be_revoked_after_a_restore(
    box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    files = ["--password-file", str(box.root / "mosq.passwd"), "--acl-file", str(box.root / "mosq.acl")]

    def devices(*args: str) -> int:
        return main(["devices", *args, *files, "--db", str(box.db)])

    assert devices("add", "--type", "kiosk", "--hall", HALL, "K-1") == 0
    out = backup(box)
    assert devices("add", "--type", "kiosk", "--hall", HALL, "K-STOLEN") == 0
    assert restore(box, out) == 0  # the registry forgets K-STOLEN; the broker's password file still has its line
    users = lambda: [line.split(":")[0] for line in (box.root / "mosq.passwd").read_text().splitlines()]  # noqa: E731
    assert users() == ["K-1", "K-STOLEN"]
    capsys.readouterr()
    assert devices("revoke", "K-STOLEN") == 0
    assert "K-STOLEN was not in the registry" in capsys.readouterr().err
    assert users() == ["K-1"]
    assert devices("revoke", "K-NEVER") == 1  # one neither knows is still refused


def test_a_path_field_pointed_outside_the_boxs_folders_is_refused(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    out = backup(box)
    evil = box.root / "cron.d" / "evil"
    evil.parent.mkdir()

    def change(manifest: dict[str, Any], parts: dict[str, bytes]) -> None:
        cfg = entry_of(manifest, "config")
        parts[cfg["member"]] = parts[cfg["member"]].replace(str(box.password).encode(), str(evil).encode())
        pw = next(e for e in manifest["files"] if e["path"] == str(box.password))
        parts[f"files{evil}"] = parts.pop(pw["member"])
        pw.update(path=str(evil), member=f"files{evil}")

    tamper(out, change)
    assert f"{evil} lies outside" in refused(box, out, capsys)
    assert not evil.exists()
