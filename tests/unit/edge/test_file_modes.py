"""Who on the box may read the gateway's files: the database with its -wal and -shm (password hashes, sessions, the
audit trail) is its owner's only, and so are mosquitto's password and ACL files (shared with the `mosquitto` group
where there is one), whatever the umask of the shell that made them."""

from __future__ import annotations

import grp
import logging
import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.credentials import Registry
from edge.store import Store

ROOT = Path(__file__).resolve().parents[3]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def broker_group() -> int | None:
    try:
        return grp.getgrnam("mosquitto").gr_gid
    except KeyError:
        return None


def database_files(db: Path) -> list[Path]:
    return [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()]


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The usual login shell's umask: a file made without a mode of its own is 0644, readable by everyone."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def hallops(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`hallops ARGV` in its own process, started from a shell with umask 022."""
    return subprocess.run(
        ["sh", "-c", 'umask 022; exec "$0" -m edge.cli "$@"', sys.executable, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_a_new_database_its_wal_and_shm_are_for_their_owner_only(tmp_path: Path, lax_umask: None) -> None:
    db = tmp_path / "hall.db"
    store = Store(db)
    try:
        files = database_files(db)
        assert [p.name for p in files] == ["hall.db", "hall.db-wal", "hall.db-shm"]
        assert {p.name: oct(mode(p)) for p in files} == {p.name: "0o600" for p in files}
    finally:
        store.close()


def test_an_existing_database_readable_by_others_is_tightened_and_the_log_says_so(
    tmp_path: Path, lax_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "hall.db"
    Store(db).close()
    db.chmod(0o644)  # as an earlier release left it
    with caplog.at_level(logging.WARNING, logger="edge.store.connection"):
        store = Store(db)
    try:
        assert {p.name: oct(mode(p)) for p in database_files(db)} == {p.name: "0o600" for p in database_files(db)}
        assert any(str(db) in r.getMessage() and "0644" in r.getMessage() for r in caplog.records)
    finally:
        store.close()


def test_users_add_on_a_fresh_path_makes_a_private_database(tmp_path: Path) -> None:
    db = tmp_path / "new" / "hall.db"
    result = hallops("users", "add", "li", "--role", "technician", "--db", str(db), stdin=secrets.token_urlsafe(16))
    assert result.returncode == 0, result.stderr
    assert {p.name: oct(mode(p)) for p in database_files(db)} == {p.name: "0o600" for p in database_files(db)}


def test_devices_add_on_fresh_paths_keeps_the_database_and_the_broker_files_private(tmp_path: Path) -> None:
    db, passwd, acl = tmp_path / "hall.db", tmp_path / "passwd", tmp_path / "acl"
    result = hallops(
        "devices", "add", "TM01", "--type", "ticket_machine", "--hall", "h1", "--db", str(db),
        "--password-file", str(passwd), "--acl-file", str(acl),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert mode(db) == 0o600
    gid = broker_group()
    for path in (passwd, acl):
        if gid is None:
            assert (mode(path), path.stat().st_uid) == (0o600, os.getuid())
        else:  # mosquitto reads them through its group, after dropping root
            assert (mode(path), path.stat().st_gid) == (0o640, gid)
    assert not list(tmp_path.glob(".passwd.*")), "no temporary file is left beside it"


def test_without_a_mosquitto_group_the_broker_files_are_the_callers_alone(
    tmp_path: Path, lax_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_such_group(name: str) -> grp.struct_group:
        raise KeyError(name)

    monkeypatch.setattr(grp, "getgrnam", no_such_group)
    registry = Registry(tmp_path / "hall.db", tmp_path / "passwd", tmp_path / "acl")
    try:
        registry.add("TM01", "ticket_machine", "h1")
        assert (mode(tmp_path / "passwd"), mode(tmp_path / "acl")) == (0o600, 0o600)
        registry.revoke("TM01")
        assert (mode(tmp_path / "passwd"), mode(tmp_path / "acl")) == (0o600, 0o600)
    finally:
        registry.close()


def test_a_caller_who_cannot_give_the_files_to_mosquitto_keeps_them_private_and_is_told(
    tmp_path: Path, lax_umask: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # a mosquitto group (as a Debian box with mosquitto has) that this caller may not give files to
    monkeypatch.setattr(grp, "getgrnam", lambda name: grp.struct_group((name, "x", 4242, [])))

    def not_ours(path: object, uid: int, gid: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chown", not_ours)
    registry = Registry(tmp_path / "hall.db", tmp_path / "passwd", tmp_path / "acl")
    try:
        with caplog.at_level(logging.WARNING, logger="edge.credentials"):
            registry.add("TM01", "ticket_machine", "h1")
    finally:
        registry.close()
    assert mode(tmp_path / "passwd") == 0o600
    assert any("chgrp mosquitto" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("unit", sorted((ROOT / "deploy" / "systemd").glob("*.service")), ids=lambda p: p.name)
def test_the_services_make_their_files_private(unit: Path) -> None:
    assert "UMask=0077" in unit.read_text(encoding="utf-8").splitlines()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can make a file for another user")
def test_a_database_root_makes_in_the_service_users_folder_belongs_to_that_user(tmp_path: Path) -> None:
    """`sudo hallops devices add --db /var/lib/hallops/hallops.db` before the gateway's first start."""
    folder = tmp_path / "var-lib-hallops"
    folder.mkdir()
    service_user = (65534, 65534)  # nobody: any user but root
    os.chown(folder, *service_user)
    store = Store(folder / "hall.db")
    try:
        files = database_files(folder / "hall.db")
        assert {p.name: (p.stat().st_uid, p.stat().st_gid, mode(p)) for p in files} == {
            p.name: (*service_user, 0o600) for p in files
        }
        assert len(files) == 3
    finally:
        store.close()
