"""An upgrade from the last released database format, and its rollback: a file hallops 0.1.0 wrote (schema version 7;
tests/data/release_0_1_0/make.py says how it was made) opened by the gateway of today is migrated with its rows
intact after a pre-upgrade backup is written and said in the log; `hallops restore` of that backup gives the 0.1.0
file back, every row as it was, at version 7 (what the previous package opens). A backup that cannot be written
stops the upgrade before the file changes, and says why."""

from __future__ import annotations

import gzip
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import load_config
from edge.gateway import Gateway
from edge.passwords import HASHER, matches
from edge.store import StorageError
from edge.store.schema import VERSION

DATA = Path(__file__).parents[2] / "data" / "release_0_1_0"
FACTS = json.loads((DATA / "facts.json").read_text())
HALL = FACTS["hall"]
KEPT = ("events", "alert_history", "records", "users", "audit", "rule_versions", "rule_activations", "outbox")


@pytest.fixture
def released(tmp_path: Path) -> Path:
    """The 0.1.0 file, where a box keeps it, with a configuration beside it."""
    db = tmp_path / "var" / "hallops.db"
    db.parent.mkdir()
    with gzip.open(DATA / "hallops-0.1.0.db.gz") as packed:
        db.write_bytes(packed.read())
    db.chmod(0o600)
    (tmp_path / "gateway.yaml").write_text(f"hall: {{id: {HALL}}}\nstorage: {{path: {db}}}\n")
    return db


def content(db: Path, tables: tuple[str, ...] | None = None, columns_of: Path | None = None) -> dict[str, list[str]]:
    """Every row of every table (or of `tables`), sorted, as text; with `columns_of`, only the columns that file's
    tables have (a migration may add some)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        names = tables or tuple(
            r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        )
        out = {}
        for t in names:
            source = sqlite3.connect(columns_of or db)
            cols = ", ".join(f'"{r[1]}"' for r in source.execute(f'PRAGMA table_info("{t}")'))
            source.close()
            out[t] = sorted(repr(row) for row in c.execute(f'SELECT {cols} FROM "{t}"'))
        return out


def version(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute("PRAGMA user_version").fetchone()[0])


def open_gateway(db: Path) -> None:
    gw = Gateway(load_config(db.parents[1] / "gateway.yaml"))
    gw.open()
    gw.close()


def test_the_fixture_is_the_released_format(released: Path) -> None:
    assert version(released) == FACTS["schema_version"] == 7
    assert {t: len(rows) for t, rows in content(released).items()} == FACTS["rows"]
    assert FACTS["rows"]["events"] > 1000 and FACTS["rows"]["alert_history"] > 0 and FACTS["rows"]["users"] == 1


def test_an_upgrade_migrates_after_a_pre_upgrade_backup(released: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert VERSION > 7, "this release has a schema of its own: an upgrade from 0.1.0 migrates"
    before = content(released, KEPT)
    caplog.set_level(logging.INFO)
    open_gateway(released)
    assert version(released) == VERSION
    after = content(released, KEPT, columns_of=_fixture_copy(released))
    for table, rows in before.items():  # every row kept; a built-in pack this release changed is a new rule version
        assert after[table][: len(rows)] == rows, table
        assert len(after[table]) == len(rows) or table in ("rule_versions", "rule_activations", "audit"), table
    (backup,) = (released.parent / "backups").glob(f"{HALL}-pre-upgrade-v7-*.tar")
    assert backup.stat().st_mode & 0o777 == 0o600
    said = [r.getMessage() for r in caplog.records if "pre-upgrade backup" in r.getMessage()]
    assert any(str(backup) in m and "hallops restore" in m for m in said)
    open_gateway(released)  # a second start has nothing to upgrade: no second backup
    assert len(list((released.parent / "backups").glob("*.tar"))) == 1


def test_a_rollback_restores_the_released_file(released: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = content(released)
    open_gateway(released)
    (backup,) = (released.parent / "backups").glob(f"{HALL}-pre-upgrade-v7-*.tar")
    config = released.parents[1] / "gateway.yaml"
    assert main(["restore", str(backup), "--config", str(config)]) == 0
    assert version(released) == 7
    assert content(released) == original  # every table, every row, as 0.1.0 left it
    with sqlite3.connect(released) as c:
        (hash_,) = c.execute("SELECT password_hash FROM users WHERE name = 'admin'").fetchone()
    assert matches(HASHER, hash_, FACTS["admin_password"])  # the administrator signs in as before
    upgraded = list(released.parent.glob("hallops.db.before-restore-*"))
    assert [version(p) for p in upgraded if not p.name.endswith(("-wal", "-shm"))] == [VERSION]  # kept aside
    assert "kept the previous" in capsys.readouterr().err


def test_no_upgrade_without_its_backup(released: Path) -> None:
    (released.parent / "backups").write_text("a file where the backups folder should be\n")
    with pytest.raises(StorageError) as caught:
        open_gateway(released)
    text = str(caught.value)
    assert "was not upgraded from schema version 7" in text and "pre-upgrade backup could not be written" in text
    assert "storage.backups_dir" in text and "the database was not changed" in text
    assert version(released) == 7
    assert content(released) == content(_fixture_copy(released))  # (its header says WAL now: opening did that)


def _fixture_copy(beside: Path) -> Path:
    copy = beside.parent / "fixture-0.1.0.db"
    if not copy.exists():
        with gzip.open(DATA / "hallops-0.1.0.db.gz") as packed:
            copy.write_bytes(packed.read())
    return copy


@pytest.mark.parametrize(
    "argv",
    [
        ["users", "list"],
        ["users", "remove", "nobody"],
        ["devices", "revoke", "kiosk-9"],
        ["audit", "verify"],
        ["db", "vacuum"],
    ],
)
def test_a_command_run_before_the_gateway_leaves_a_released_file_as_it_is(
    released: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # only the gateway upgrades, after its pre-upgrade backup: a command run first (an administrator listing users
    # right after installing the new package) says so instead of migrating the file without one
    before = content(released)
    extra = ["--password-file", str(released.parent / "passwd"), "--acl-file", str(released.parent / "acl")]
    code = main([*argv, "--db", str(released), *(extra if argv[0] == "devices" else [])])
    assert code == 3
    err = capsys.readouterr().err
    assert "schema version 7" in err and "Start the gateway once" in err
    assert version(released) == 7 and content(released) == before
    assert not (released.parent / "backups").exists()
