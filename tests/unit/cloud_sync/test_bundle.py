"""Signed rule bundles: a hall's box applies rules only if they are genuine, for it, valid and newer; a refused
bundle leaves the active rules exactly as they were."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloud_sync.bundle import BundleError, new_key, sign, verify
from edge.cli import main
from edge.store import Store
from edge.versions import RuleVersions
from rules.language import BUILTIN

RULES = BUILTIN.read_text(encoding="utf-8")
STRICTER = RULES.replace(
    'metric: queue.longest_wait_min, op: ">=", value: 30', 'metric: queue.longest_wait_min, op: ">=", value: 25'
)


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return new_key()


def test_a_genuine_newer_bundle_for_this_hall_verifies(keys: tuple[str, str]) -> None:
    private, public = keys
    bundle = verify(sign(RULES, 3, private, hall="county-01"), public, "county-01", applied_version=2)
    assert bundle.version == 3 and bundle.rules_yaml == RULES and len(bundle.rules.rules) >= 29
    assert verify(sign(RULES, 1, private), public, "city-01", 0).hall == "*"  # a bundle for every hall


def tampered(raw: bytes, **change: object) -> bytes:
    body = json.loads(raw)
    for key, value in change.items():
        if key == "rules":
            body["rules"] = value
        else:
            body["header"][key] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"rules": RULES.replace("value: 30", "value: 300")}, "signature does not match"),
        ({"version": 99}, "signature does not match"),
        ({"hall": "*"}, "signature does not match"),
    ],
)
def test_any_change_after_signing_is_refused(keys: tuple[str, str], change: dict[str, object], reason: str) -> None:
    private, public = keys
    raw = tampered(sign(RULES, 5, private, hall="county-01"), **change)
    with pytest.raises(BundleError, match=reason):
        verify(raw, public, "county-01", 4)


@pytest.mark.parametrize(
    ("version", "hall", "applied", "reason"),
    [(4, "county-01", 4, "not newer"), (3, "county-01", 4, "not newer"), (5, "city-01", 4, "for hall 'city-01'")],
)
def test_a_replay_a_downgrade_or_another_halls_bundle_is_refused(
    keys: tuple[str, str], version: int, hall: str, applied: int, reason: str
) -> None:
    private, public = keys
    with pytest.raises(BundleError, match=reason):
        verify(sign(RULES, version, private, hall=hall), public, "county-01", applied)


def test_another_key_and_garbage_are_refused(keys: tuple[str, str]) -> None:
    _, public = keys
    other_private, _ = new_key()
    with pytest.raises(BundleError, match="signature"):
        verify(sign(RULES, 9, other_private), public, "county-01", 0)
    with pytest.raises(BundleError, match="not a rule bundle"):
        verify(b"rules: []", public, "county-01", 0)


def test_broken_rules_are_never_signed(keys: tuple[str, str]) -> None:
    with pytest.raises(BundleError, match="not valid"):
        sign("rules:\n  - id: x\n    severity: urgent\n", 1, keys[0])


def test_the_cli_applies_a_good_bundle_and_a_refused_one_leaves_the_rules_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "keygen", "--out", str(tmp_path / "keys")]) == 0
    assert (tmp_path / "keys" / "bundle.key").stat().st_mode & 0o077 == 0  # the secret is its owner's only
    assert main(["rules", "keygen", "--out", str(tmp_path / "keys")]) == 1  # never overwrites a key
    active = tmp_path / "rules.yaml"
    active.write_text(RULES, encoding="utf-8")
    db = tmp_path / "gateway.db"
    store = Store(db)  # a gateway that has run once: its rules are version 1
    RuleVersions(store).bootstrap(RULES, str(active))
    store.close()
    apply = [
        "rules",
        "apply",
        "--public-key",
        str(tmp_path / "keys" / "bundle.pub"),
        "--hall",
        "county-01",
        "--db",
        str(db),
        "--rules-file",
        str(active),
    ]

    def signed(version: int, text: str = STRICTER) -> str:
        (tmp_path / "candidate.yaml").write_text(text, encoding="utf-8")
        out = tmp_path / f"v{version}.json"
        assert (
            main(
                [
                    "rules",
                    "sign",
                    str(tmp_path / "candidate.yaml"),
                    "--key",
                    str(tmp_path / "keys" / "bundle.key"),
                    "--version",
                    str(version),
                    "--hall",
                    "county-01",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        return str(out)

    assert STRICTER != RULES
    assert main([*apply[:2], signed(2), *apply[2:]]) == 0
    assert active.read_text(encoding="utf-8") == STRICTER

    def in_force() -> str:
        store = Store(db)
        try:
            version = RuleVersions(store).active()
            assert version is not None
            return version.source
        finally:
            store.close()

    assert in_force() == STRICTER  # the bundle is a version, in force for a running gateway
    older = signed(1, RULES)
    assert main([*apply[:2], older, *apply[2:]]) == 1  # a downgrade
    forged = tmp_path / "forged.json"
    forged.write_bytes(tampered(Path(signed(3)).read_bytes(), rules=RULES))
    assert main([*apply[:2], str(forged), *apply[2:]]) == 1  # altered after signing
    assert active.read_text(encoding="utf-8") == STRICTER  # the refusals changed nothing
    assert in_force() == STRICTER
    err = capsys.readouterr().err
    assert "not newer than the applied version 2" in err and "signature does not match" in err
    store = Store(db)
    try:
        assert store.meta.get("rules_bundle_version") == "2"
        assert [r.entry.action for r in store.audit.rows()] == [
            "rules.version_add",
            "rules.activate",  # the configured rules, at the first start
            "rules.version_add",
            "rules.activate",
            "rules.apply_bundle",
        ]
    finally:
        store.close()
