"""`hallops rules add|activate|rollback|diff|shadow|versions` on a gateway's database: what an operator types and
reads, and the exit codes scripts rely on (0 done, 1 refused with the reason, 2 no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main
from edge.store import Store
from edge.versions import RuleVersions
from tests.unit.edge.test_rule_versions import LOWER, MORE, RULES


def test_the_version_commands_change_what_is_in_force_and_say_why_when_they_cannot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "g.db")
    assert main(["rules", "versions", "--db", db]) == 2  # no database yet: says so
    assert f"hallops rules versions: no such database: {db}" in capsys.readouterr().err
    store = Store(Path(db))
    RuleVersions(store).bootstrap(RULES, "rules.yaml")  # a gateway that has started once: version 1 in force
    store.close()
    files = {}
    for name, text in (("lower.yaml", LOWER), ("more.yaml", MORE), ("bad.yaml", RULES.replace("value: 5", "value: x"))):
        files[name] = tmp_path / name
        files[name].write_text(text, encoding="utf-8")

    assert main(["rules", "add", str(files["lower.yaml"]), "-m", "queue-long at 3", "--db", db]) == 0
    assert "new version 2 (2 rules); put it in force with: hallops rules activate 2" in capsys.readouterr().err
    assert main(["rules", "add", str(files["lower.yaml"]), "--db", db]) == 0
    assert "the same rules are already version 2" in capsys.readouterr().err
    assert main(["rules", "add", str(files["bad.yaml"]), "--db", db]) == 1
    assert capsys.readouterr().out.startswith(f"{files['bad.yaml']}: 1 error(s)\n  rules[0].when.value")
    assert main(["rules", "add", str(files["more.yaml"]), "--activate", "--db", db]) == 0
    assert "new version 3 (3 rules), in force" in capsys.readouterr().err

    assert main(["rules", "diff", "1", "--db", db]) == 0  # against the version in force (3)
    out = capsys.readouterr().out
    assert out.startswith("# added: queue-huge\n# removed: —\n# changed: queue-long\n") and "+++ version 3" in out
    assert main(["rules", "activate", "9", "--db", db]) == 1
    assert "hallops rules activate: no rule version 9" in capsys.readouterr().err
    assert main(["rules", "shadow", "3", "--db", db]) == 1  # the version in force cannot also be the shadow
    assert "is the one in force" in capsys.readouterr().err
    assert main(["rules", "shadow", "2", "--db", db]) == 0
    assert main(["rules", "rollback", "-m", "too noisy", "--db", db]) == 0
    assert "hallops rules rollback: version 1 in force" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["rules", "versions", "--db", db]) == 0
    rows = [line.split("\t")[:2] for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [["3", ""], ["2", "shadow"], ["1", "active"]]
