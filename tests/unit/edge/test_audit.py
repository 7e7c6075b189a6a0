"""The audit log's hash chain: an administrator must learn when anyone edited or deleted a row of who-did-what."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.audit import GENESIS, Entry, chain, verify
from edge.cli import main
from edge.store import Store

T0 = 1_795_000_000.0
ENTRIES = [
    Entry(T0, "wang", "alert.acknowledge", "fp1", {"rule": "wait-30", "labels": {"service": "SB"}}),
    Entry(T0 + 60, "li", "ticket.acknowledge", "T-20261123-0001", {}),
    Entry(T0 + 120, "li", "ticket.resolve", "T-20261123-0001", {"note": "换纸"}),
    Entry(T0 + 180, "wang", "recommendation.approve", "r7", {"windows": ["W12"], "services": ["SB"]}),
]


def test_an_untouched_log_verifies() -> None:
    rows = chain(GENESIS, 1, ENTRIES)
    assert verify(rows, (4, rows[-1].hash)) == []
    assert verify([], None) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", "zhao"),
        ("action", "ticket.close"),
        ("subject", "T-20261123-0002"),
        ("detail", {"note": "ok"}),
        ("at", T0 + 61),
    ],
)
def test_editing_any_field_of_a_row_is_found_at_that_row(field: str, value: object) -> None:
    rows = chain(GENESIS, 1, ENTRIES)
    e = rows[1].entry
    edited = Entry(
        **{"at": e.at, "actor": e.actor, "action": e.action, "subject": e.subject, "detail": e.detail, field: value}
    )  # type: ignore[arg-type]
    rows[1] = type(rows[1])(rows[1].id, edited, rows[1].prev, rows[1].hash)
    findings = verify(rows, (4, rows[-1].hash))
    assert [(f.row_id, "edited" in f.problem) for f in findings] == [(2, True)]


def test_deleting_a_row_in_the_middle_is_found() -> None:
    rows = chain(GENESIS, 1, ENTRIES)
    del rows[1]
    findings = verify(rows, (4, rows[-1].hash))
    assert {f.row_id for f in findings} == {3, None}
    assert any("missing" in f.problem for f in findings)


def test_deleting_the_newest_rows_is_found_through_the_recorded_head() -> None:
    rows = chain(GENESIS, 1, ENTRIES)
    head = (4, rows[-1].hash)
    findings = verify(rows[:2], head)
    assert [f.row_id for f in findings] == [None] and "deleted" in findings[0].problem


def test_rewriting_a_row_and_its_hash_still_breaks_the_next_row() -> None:
    rows = chain(GENESIS, 1, ENTRIES)
    forged = chain(rows[0].hash, 2, [Entry(T0 + 60, "li", "ticket.acknowledge", "T-20261123-0009", {})])[0]
    rows[1] = forged
    findings = verify(rows, (4, rows[-1].hash))
    assert [f.row_id for f in findings] == [3]


def test_swapping_two_rows_is_found() -> None:
    rows = chain(GENESIS, 1, ENTRIES)
    rows[1], rows[2] = rows[2], rows[1]
    assert verify(rows, (4, rows[2].hash))


def store_with_entries(tmp_path: Path) -> Path:
    db = tmp_path / "gateway.db"
    store = Store(db)
    store.decisions.write({}, [], [], T0, [], ENTRIES[:2])  # appended with the decisions they belong to
    store.audit.append(ENTRIES[2:])  # and on their own (CLI changes)
    assert [r.id for r in store.audit.rows()] == [1, 2, 3, 4]
    assert [r.entry.action for r in store.audit.rows(2)] == ["recommendation.approve", "ticket.resolve"]
    store.close()
    return db


def test_the_stored_log_survives_a_reopen_and_verifies_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = store_with_entries(tmp_path)
    reopened = Store(db)
    assert verify(reopened.audit.rows(), reopened.audit.head()) == []
    reopened.close()
    assert main(["audit", "verify", "--db", str(db)]) == 0
    assert "intact — 4 rows" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('UPDATE audit SET detail = \'{"note": "没做"}\' WHERE id = 3', "row 3: its content does not match"),
        ("DELETE FROM audit WHERE id = 2", "row 3: row 2 is missing"),
        ("DELETE FROM audit WHERE id = 4", "rows at the end were deleted"),
        ("UPDATE audit SET actor = 'zhao' WHERE id = 1", "row 1: its content does not match"),
    ],
)
def test_tampering_with_the_database_file_is_reported_by_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sql: str, expected: str
) -> None:
    db = store_with_entries(tmp_path)
    with sqlite3.connect(db) as raw:
        raw.execute(sql)
    raw.close()
    assert main(["audit", "verify", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert expected in err and "BROKEN" in err


def test_verify_names_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--db", str(tmp_path / "nope.db")]) == 2
    assert "no such database" in capsys.readouterr().err
