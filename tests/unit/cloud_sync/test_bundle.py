"""Signed rule bundles: a hall's box applies rules only if they are genuine (signed by a key it trusts, still valid),
unexpired, for it, valid and newer by a bounded step; rules whose commands reach the public or devices' service wait
for an administrator at the hall; a refused bundle leaves the active rules exactly as they were."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_sync.bundle import (
    FORMAT,
    BundleError,
    TrustedKey,
    approval_needed,
    check_newer,
    new_key,
    sign,
    verify,
)
from edge.cli import main
from edge.store import Store
from edge.versions import RuleVersions
from rules.language import BUILTIN, RuleFile, parse_rules

RULES = BUILTIN.read_text(encoding="utf-8")
STRICTER = RULES.replace(
    'metric: queue.longest_wait_min, op: ">=", value: 30', 'metric: queue.longest_wait_min, op: ">=", value: 25'
)
# what a compromised or careless signing desk could send every hall: restart every device, put text on every screen
TAKEOVER = (
    RULES
    + """
  - id: everyone-restart
    when: {metric: device.online, op: "==", value: true}
    severity: info
    then:
      - command: {type: restart}
      - command: {type: message.show, target: call_screens, message: "本大厅暂停服务 / the hall is closed"}
"""
)
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return new_key()


def trusted(public: str, key_id: str = "default", not_after: date | None = None) -> dict[str, TrustedKey]:
    return {key_id: TrustedKey(key_id, public, not_after)}


def test_a_genuine_bundle_for_this_hall_verifies(keys: tuple[str, str]) -> None:
    private, public = keys
    bundle = verify(sign(RULES, 3, private, hall="county-01", now=NOW), trusted(public), "county-01", NOW)
    assert bundle.version == 3 and bundle.rules_yaml == RULES and len(bundle.rules.rules) >= 29
    assert bundle.key_id == "default" and bundle.expires_at == (NOW + timedelta(days=30)).isoformat()
    assert verify(sign(RULES, 1, private, now=NOW), trusted(public), "city-01", NOW).hall == "*"  # every hall


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
        ({"expires_at": "2099-01-01T00:00:00+00:00"}, "signature does not match"),
    ],
)
def test_any_change_after_signing_is_refused(keys: tuple[str, str], change: dict[str, object], reason: str) -> None:
    private, public = keys
    raw = tampered(sign(RULES, 5, private, hall="county-01", now=NOW), **change)
    with pytest.raises(BundleError, match=reason):
        verify(raw, trusted(public), "county-01", NOW)


def test_another_halls_bundle_another_key_and_garbage_are_refused(keys: tuple[str, str]) -> None:
    private, public = keys
    with pytest.raises(BundleError, match="for hall 'city-01'"):
        verify(sign(RULES, 5, private, hall="city-01", now=NOW), trusted(public), "county-01", NOW)
    other_private, _ = new_key()
    with pytest.raises(BundleError, match="signature"):
        verify(sign(RULES, 9, other_private, now=NOW), trusted(public), "county-01", NOW)
    with pytest.raises(BundleError, match="not a rule bundle"):
        verify(b"rules: []", trusted(public), "county-01", NOW)


# -- several keys, by id: rotation -------------------------------------------------------------------------------


def test_the_key_is_chosen_by_the_id_in_the_signed_header(keys: tuple[str, str]) -> None:
    old_private, old_public = keys
    new_private, new_public = new_key()
    both = trusted(old_public, "2025") | trusted(new_public, "2026")
    assert verify(sign(RULES, 2, old_private, now=NOW, key_id="2025"), both, "h1", NOW).key_id == "2025"
    assert verify(sign(RULES, 3, new_private, now=NOW, key_id="2026"), both, "h1", NOW).key_id == "2026"
    with pytest.raises(BundleError, match="signature does not match key '2026'"):  # the id names another key
        verify(sign(RULES, 4, old_private, now=NOW, key_id="2026"), both, "h1", NOW)
    with pytest.raises(BundleError, match=r"key 'lost', which this gateway does not trust \(trusted: 2025, 2026\)"):
        verify(sign(RULES, 4, old_private, now=NOW, key_id="lost"), both, "h1", NOW)


def test_a_key_past_its_not_after_is_refused(keys: tuple[str, str]) -> None:
    private, public = keys
    retiring = trusted(public, "2025", not_after=date(2026, 11, 30))
    raw = sign(RULES, 2, private, now=NOW, key_id="2025")
    assert verify(raw, retiring, "h1", datetime(2026, 11, 30, 23, 59, tzinfo=UTC)).version == 2  # its last day
    with pytest.raises(BundleError, match="key '2025' was trusted until 2026-11-30; it has been retired"):
        verify(raw, retiring, "h1", datetime(2026, 12, 1, 0, 0, tzinfo=UTC))


# -- expiry ------------------------------------------------------------------------------------------------------


def test_an_expired_bundle_is_refused(keys: tuple[str, str]) -> None:
    private, public = keys
    raw = sign(RULES, 2, private, now=NOW, expires_in=timedelta(days=7))
    assert verify(raw, trusted(public), "h1", NOW + timedelta(days=6, hours=23)).version == 2
    with pytest.raises(BundleError, match="expired at 2026-11-30T10:00:00"):
        verify(raw, trusted(public), "h1", NOW + timedelta(days=7))
    with pytest.raises(BundleError, match="expiry"):
        sign(RULES, 2, private, now=NOW, expires_in=timedelta(days=3650))  # no bundle valid for ten years


def signed_with(private: str, **header: object) -> bytes:
    """A bundle with any header, signed as `sign` does — for what `sign` itself refuses to make."""
    head: dict[str, object] = {
        "format": FORMAT,
        "key_id": "default",
        "hall": "*",
        "version": 2,
        "created_at": NOW.isoformat(),
        "expires_at": (NOW + timedelta(days=1)).isoformat(),
        "rules_sha256": hashlib.sha256(RULES.encode()).hexdigest(),
    } | header
    head = {k: v for k, v in head.items() if v is not None}
    signed = json.dumps(head, sort_keys=True, separators=(",", ":")).encode() + b"\n" + RULES.encode()
    signature = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private)).sign(signed)
    return json.dumps({"header": head, "rules": RULES, "signature": base64.b64encode(signature).decode()}).encode()


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"expires_at": None}, "no valid expires_at"),
        ({"expires_at": "next week"}, "no valid expires_at"),
        ({"version": True}, "version True is not a whole number"),  # JSON true is an int in Python
        ({"version": 10**20}, "not a whole number from 1 to 9007199254740992"),
        ({"version": 2**53 + 1}, "not a whole number"),
        ({"version": 2.0}, "not a whole number"),
        ({"format": "hallops-rules/1"}, "sign it again"),
    ],
)
def test_a_signed_header_must_carry_an_expiry_and_a_sane_version(
    keys: tuple[str, str], header: dict[str, object], reason: str
) -> None:
    private, public = keys
    with pytest.raises(BundleError, match=reason):
        verify(signed_with(private, **header), trusted(public), "h1", NOW)


@pytest.mark.parametrize("version", [0, True, 10**20, 2**53 + 1])
def test_sign_refuses_a_version_out_of_range(keys: tuple[str, str], version: int) -> None:
    with pytest.raises(BundleError, match="version: must be a whole number"):
        sign(RULES, version, keys[0])


# -- the version against the one applied ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "applied", "step", "reason"),
    [
        (3, 2, 1000, None),
        (1, 0, 1000, None),  # the first
        (1002, 2, 1000, None),  # the largest step
        (2, 2, 1000, "not newer than the applied version 2"),  # a replay
        (1, 2, 1000, "not newer than the applied version 2"),  # a downgrade
        (1003, 2, 1000, "more than 1000 above the applied version 2"),
        (2**53, 0, 1000, "more than 1000 above"),  # the number that would block every later bundle
        (12, 2, 10, None),
        (13, 2, 10, "more than 10 above"),
    ],
)
def test_a_version_must_be_newer_by_a_bounded_step(version: int, applied: int, step: int, reason: str | None) -> None:
    if reason is None:
        check_newer(version, applied, step)
    else:
        with pytest.raises(BundleError, match=reason):
            check_newer(version, applied, step)


# -- what needs approval at the hall -------------------------------------------------------------------------------


def rules_of(text: str) -> RuleFile:
    return parse_rules(yaml.safe_load(text))


def test_commands_that_reach_the_public_or_devices_service_need_approval() -> None:
    builtin = rules_of(RULES)
    takeover = approval_needed(rules_of(TAKEOVER), builtin)
    assert takeover == [
        "rule 'everyone-restart' (new): restart to subject restarts the application of a kiosk or call screen, in "
        "the middle of service",
        "rule 'everyone-restart' (new): message.show to call_screens shows text on a screen the public sees",
    ]
    # a box whose rules in force have no commands: every command of the pack needs approval but the staff nudges
    fresh = approval_needed(builtin, RuleFile())
    needing = {" ".join(re.findall(r"rule '(\S+)' \(new\): (\S+) to", reason)[0]) for reason in fresh}
    assert needing == {
        "call-screen-blank restart",
        "kiosk-error-burst self_test",
        "call-unanswered recall",
        "call-unanswered call.announce",
    }


def test_rules_that_run_already_need_no_approval() -> None:
    builtin = rules_of(RULES)
    assert approval_needed(builtin, builtin) == []
    assert approval_needed(rules_of(STRICTER), builtin) == []  # a threshold of an alert-only rule changed


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        # the restart rule itself fires on more states
        ("value: [blank, no_signal, stale]", "value: [blank, no_signal, stale, ok]", "call-screen-blank"),
        # the rule whose alert keeps it quiet fires later, so the restart rule acts more often
        (
            '{metric: device.offline_min, op: ">=", value: 0.5}',
            '{metric: device.offline_min, op: ">=", value: 60}',
            "call-screen-blank",
        ),
        # a nudge retargeted from the window's staff terminal to the public call screens
        ("command: {type: nudge}", "command: {type: nudge, target: call_screens}", "idle-window-nudge"),
    ],
)
def test_a_changed_rule_with_such_a_command_needs_approval_again(old: str, new: str, rule: str) -> None:
    assert RULES.count(old) == 1
    reasons = approval_needed(rules_of(RULES.replace(old, new)), rules_of(RULES))
    assert [r for r in reasons if r.startswith(f"rule '{rule}' (changed)")], reasons


def test_broken_rules_are_never_signed(keys: tuple[str, str]) -> None:
    with pytest.raises(BundleError, match="not valid"):
        sign("rules:\n  - id: x\n    severity: urgent\n", 1, keys[0])


# -- the CLI -------------------------------------------------------------------------------------------------------


class Box:
    """A hall's box that has run once (its rules are version 1, the built-in pack), and the signing desk's keys."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.rules_file = tmp_path / "rules.yaml"
        self.rules_file.write_text(RULES, encoding="utf-8")
        self.db = tmp_path / "gateway.db"
        store = Store(self.db)
        RuleVersions(store).bootstrap(RULES, str(self.rules_file))
        store.close()

    def signed(self, version: int, text: str = STRICTER, key_id: str = "2026", *extra: str) -> str:
        (self.tmp / "candidate.yaml").write_text(text, encoding="utf-8")
        out = self.tmp / f"v{version}.json"
        key = str(self.tmp / "keys" / f"{key_id}.key")
        command = ["rules", "sign", str(self.tmp / "candidate.yaml"), "--key", key, "--key-id", key_id]
        assert main([*command, "--version", str(version), "--hall", "county-01", "--out", str(out), *extra]) == 0
        return str(out)

    def apply(self, bundle: str, key_id: str = "2026") -> int:
        public = str(self.tmp / "keys" / f"{key_id}.pub")
        return main(
            [
                *("rules", "apply", bundle, "--public-key", public, "--key-id", key_id, "--hall", "county-01"),
                *("--db", str(self.db), "--rules-file", str(self.rules_file)),
            ]
        )

    def in_force(self) -> str:
        store = Store(self.db)
        try:
            version = RuleVersions(store).active()
            assert version is not None
            return version.source
        finally:
            store.close()

    def audit(self) -> list[str]:
        store = Store(self.db)
        try:
            return [r.entry.action for r in store.audit.rows()]
        finally:
            store.close()


def test_the_cli_applies_a_good_bundle_and_a_refused_one_leaves_the_rules_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "keygen", "--out", str(tmp_path / "keys"), "--id", "2026"]) == 0
    assert (tmp_path / "keys" / "2026.key").stat().st_mode & 0o077 == 0  # the secret is its owner's only
    assert main(["rules", "keygen", "--out", str(tmp_path / "keys"), "--id", "2026"]) == 1  # never overwrites a key
    box = Box(tmp_path)
    assert STRICTER != RULES
    assert box.apply(box.signed(2)) == 0
    assert box.rules_file.read_text(encoding="utf-8") == STRICTER
    assert box.in_force() == STRICTER  # the bundle is a version, in force for a running gateway
    assert box.apply(box.signed(1, RULES)) == 1  # a downgrade
    forged = tmp_path / "forged.json"
    forged.write_bytes(tampered(Path(box.signed(3)).read_bytes(), rules=RULES))
    assert box.apply(str(forged)) == 1  # altered after signing
    assert box.apply(box.signed(2000, RULES)) == 1  # too big a jump
    expired = tmp_path / "expired.json"
    private = (tmp_path / "keys" / "2026.key").read_text().strip()
    expired.write_bytes(sign(RULES, 3, private, "county-01", datetime(2026, 1, 1, tzinfo=UTC), key_id="2026"))
    assert box.apply(str(expired)) == 1  # signed for 30 days in January 2026
    assert box.rules_file.read_text(encoding="utf-8") == STRICTER  # the refusals changed nothing
    assert box.in_force() == STRICTER
    err = capsys.readouterr().err
    assert "not newer than the applied version 2" in err and "signature does not match" in err
    assert "more than 1000 above the applied version 2" in err and "expired at" in err
    store = Store(box.db)
    try:
        assert store.meta.get("rules_bundle_version") == "2"  # a refused jump does not become the applied version
    finally:
        store.close()
    assert box.audit() == [
        "rules.version_add",
        "rules.activate",  # the configured rules, at the first start
        "rules.version_add",
        "rules.activate",
        "rules.apply_bundle",
    ]


def test_a_bundle_that_restarts_devices_and_writes_on_screens_waits_for_an_administrator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "keygen", "--out", str(tmp_path / "keys"), "--id", "2026"]) == 0
    box = Box(tmp_path)
    raw = box.signed(2, TAKEOVER)
    assert json.loads(Path(raw).read_text())["header"]["hall"] == "county-01"
    assert box.apply(raw) == 0
    assert box.in_force() == RULES  # stored, not in force
    assert box.rules_file.read_text(encoding="utf-8") == RULES
    err = capsys.readouterr().err
    assert "NOT in force" in err and "restart to subject" in err and "message.show to call_screens" in err
    assert box.audit()[-2:] == ["rules.version_add", "rules.hold_bundle"]
    assert box.apply(raw) == 1  # the same bundle again is no way round the approval
    assert main(["rules", "activate", "2", "--db", str(box.db), "-m", "approved by the hall"]) == 0
    assert box.in_force() == TAKEOVER
    assert box.audit()[-1] == "rules.activate"  # the approval, by the administrator who gave it


def test_the_cli_trusts_the_keys_of_the_gateways_configuration(tmp_path: Path) -> None:
    keys = str(tmp_path / "keys")
    assert main(["rules", "keygen", "--out", keys, "--id", "2025"]) == 0
    assert main(["rules", "keygen", "--out", keys, "--id", "2026"]) == 0
    box = Box(tmp_path)
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f"hall: {{id: county-01}}\nstorage: {{path: {box.db}}}\nrules:\n  bundle_keys:\n"
        f"    - {{id: '2025', key: {keys}/2025.pub, not_after: 2000-01-01}}\n"
        f"    - {{id: '2026', key: {keys}/2026.pub}}\n",
        encoding="utf-8",
    )
    assert main(["rules", "apply", box.signed(2, STRICTER, "2025"), "--config", str(config)]) == 1  # retired
    assert main(["rules", "apply", box.signed(2, STRICTER, "2026"), "--config", str(config)]) == 0
    assert box.in_force() == STRICTER
