"""Bundles over MQTT, the parts without a broker: the topics, reading a bundle's address without trusting it, the
gateway's receiver deciding what to apply, hold for approval, refuse or ignore (a fake sink and publisher, an injected
clock), `hallops rules push`'s errors, and the configuration of the trusted keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from cloud_sync.bundle import FORMAT, Bundle, BundleError, TrustedKey, new_key, sign
from cloud_sync.delivery import (
    Receiver,
    addressed_to,
    applied_topic,
    bundle_topic,
    bundle_topics,
    claimed_version,
    public_key,
)
from devices.errors import ConfigError
from edge.broker import free_port
from edge.cli import main
from edge.config import load_config
from rules.language import BUILTIN, RuleFile, parse_rules

RULES = BUILTIN.read_text(encoding="utf-8")
STRICTER = RULES.replace(
    'metric: queue.longest_wait_min, op: ">=", value: 30', 'metric: queue.longest_wait_min, op: ">=", value: 25'
)
# a hall-wide takeover: restart every device, and text on every public call screen
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
BUNDLE_TOPIC, ALL_TOPIC = "cloud/halls/h1/rules/bundle", "cloud/halls/all/rules/bundle"


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return new_key()


def signed(rules: str, version: int, private: str, hall: str = "*", **options: object) -> bytes:
    """`sign`, made at NOW (the receivers' clock)."""
    return sign(rules, version, private, hall, NOW, **options)  # type: ignore[arg-type]


def test_topics() -> None:
    assert bundle_topic("county-01") == "cloud/halls/county-01/rules/bundle"
    assert bundle_topic("*") == ALL_TOPIC
    assert bundle_topics("h1") == (BUNDLE_TOPIC, ALL_TOPIC)
    assert applied_topic("h1") == "cloud/halls/h1/rules/applied"


def test_the_address_is_read_from_a_signed_bundle(keys: tuple[str, str]) -> None:
    assert addressed_to(signed(RULES, 7, keys[0], hall="county-01")) == ("county-01", 7)
    assert addressed_to(signed(RULES, 1, keys[0])) == ("*", 1)


def bundle_body(**header: object) -> bytes:
    base = {"format": FORMAT, "hall": "h1", "version": 2}
    return json.dumps({"header": base | header, "rules": RULES, "signature": "c2ln"}).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (RULES.encode(), "not a signed rule bundle"),  # the rule file itself, not signed
        (json.dumps({"header": {}, "rules": RULES}).encode(), "not a signed rule bundle"),
        (json.dumps({"header": {}, "rules": RULES, "signature": "%%"}).encode(), "not a signed rule bundle"),
        (b"\xff\xfe", "not a signed rule bundle"),
        (bundle_body(format="other/9"), "format"),
        (bundle_body(version=0), "version 0"),
        (bundle_body(version="2"), "version '2'"),
        (bundle_body(version=True), "version True"),  # JSON true is an int in Python
        (bundle_body(version=10**20), "not a whole number from 1 to 9007199254740992"),
        (bundle_body(format="hallops-rules/1"), "format"),  # signed before key ids and expiry
        (bundle_body(hall="h1/#"), "not a hall id"),
        (bundle_body(hall="all"), "not a hall id"),  # the every-hall topic level
    ],
)
def test_what_is_not_a_signed_bundle_is_not_pushed(raw: bytes, reason: str) -> None:
    with pytest.raises(BundleError, match=reason):
        addressed_to(raw)


def test_the_trusted_key_must_be_an_ed25519_public_key(keys: tuple[str, str]) -> None:
    assert public_key(keys[1] + "\n") == keys[1]
    for text in ("", "not base64!", "c2hvcnQ=", RULES):
        with pytest.raises(ValueError, match="not an Ed25519 public key"):
            public_key(text)


# -- the receiver -----------------------------------------------------------------------------------------------


@dataclass
class FakeRules:
    """The gateway's rule versions: version 1 holds RULES (the configured pack)."""

    applied: int = 0
    active: int = 1
    stored: dict[str, int] = field(default_factory=lambda: {RULES: 1})
    taken: list[tuple[int, str]] = field(default_factory=list)
    held: list[tuple[int, int]] = field(default_factory=list)  # (bundle, rule version) stored for approval
    broken: bool = False

    def applied_bundle(self) -> int:
        return self.applied

    def rules_in_force(self) -> int:
        return self.active

    def in_force(self) -> RuleFile:
        source = next((text for text, number in self.stored.items() if number == self.active), "rules: []")
        return parse_rules(yaml.safe_load(source))

    def stored_rules(self, rules_yaml: str) -> int | None:
        return self.stored.get(rules_yaml)

    def _store(self, bundle: Bundle) -> int:
        if self.broken:
            raise OSError("disk I/O error")
        self.applied = bundle.version
        return self.stored.setdefault(bundle.rules_yaml, max(self.stored.values()) + 1)

    def apply_bundle(self, bundle: Bundle, topic: str) -> int:
        self.active = self._store(bundle)
        self.taken.append((bundle.version, topic))
        return self.active

    def hold_bundle(self, bundle: Bundle, topic: str, reasons: list[str]) -> int:
        number = self._store(bundle)
        self.held.append((bundle.version, number))
        return number


@dataclass
class FakeLink:
    sent: list[tuple[str, dict[str, object], int, bool]] = field(default_factory=list)
    down: bool = False

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        if self.down:
            raise ConnectionError("not connected to the broker")
        self.sent.append((topic, json.loads(payload), qos, retain))

    def reports(self) -> list[tuple[str, int | None, str]]:
        return [(str(m["status"]), m["bundle_version"], str(m["reason"])) for _, m, _, _ in self.sent]  # type: ignore[misc]


def receiver(keys: tuple[str, str], rules: FakeRules, link: FakeLink, **options: object) -> Receiver:
    trusted = {"default": TrustedKey("default", keys[1])}
    return Receiver("h1", trusted, rules, link, now=lambda: NOW, **options)  # type: ignore[arg-type]


async def deliver(r: Receiver, topic: str, raw: bytes) -> list[str]:
    acks: list[str] = []
    r.offer(topic, raw, lambda: acks.append(topic))
    await r.drain()
    return acks


async def test_a_newer_bundle_is_applied_acknowledged_and_reported(keys: tuple[str, str]) -> None:
    rules, link = FakeRules(), FakeLink()
    r = receiver(keys, rules, link)
    assert await deliver(r, BUNDLE_TOPIC, signed(STRICTER, 2, keys[0], hall="h1")) == [BUNDLE_TOPIC]
    assert rules.taken == [(2, BUNDLE_TOPIC)] and rules.active == 2
    assert link.sent == [
        (
            "cloud/halls/h1/rules/applied",
            {
                "hall": "h1",
                "bundle_version": 2,
                "rule_version": 2,
                "applied_version": 2,
                "status": "applied",
                "reason": "",
                "at": NOW.isoformat(),
            },
            1,
            True,
        ),
    ]
    await deliver(r, ALL_TOPIC, signed(RULES, 3, keys[0]))  # for every hall
    assert rules.taken[-1] == (3, ALL_TOPIC) and rules.active == 1 and r.counters.applied == 2


def forged(raw: bytes) -> bytes:
    body = json.loads(raw)
    body["rules"] = RULES
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("make", "claimed", "reason"),
    [
        (lambda k: forged(signed(STRICTER, 3, k[0], hall="h1")), 3, "signature does not match"),
        (lambda k: signed(STRICTER, 3, new_key()[0], hall="h1"), 3, "signature does not match"),
        (lambda k: signed(STRICTER, 3, k[0], hall="h2"), 3, "for hall 'h2'"),
        (lambda k: signed(STRICTER, 1, k[0], hall="h1"), 1, "not newer than the applied version 2"),
        (lambda k: signed(STRICTER, 2, k[0], hall="h1"), 2, "not newer than the applied version 2"),  # number reused
        (lambda k: b'{"header": {"version": 9}', None, "not a rule bundle"),
        (lambda k: b"\x00" * 100_000, None, "not a rule bundle"),
    ],
)
async def test_a_refused_bundle_changes_nothing_and_is_reported(
    keys: tuple[str, str], make: Callable[[tuple[str, str]], bytes], claimed: int | None, reason: str
) -> None:
    rules, link = FakeRules(applied=2, active=4, stored={RULES: 1, "other: rules": 4}), FakeLink()
    r = receiver(keys, rules, link)
    assert await deliver(r, BUNDLE_TOPIC, make(keys)) == [BUNDLE_TOPIC]  # acknowledged all the same
    assert rules.taken == [] and (rules.applied, rules.active) == (2, 4)
    [(status, version, why)] = link.reports()
    assert (status, version) == ("refused", claimed) and reason in why
    assert link.sent[0][1]["rule_version"] == 4 and link.sent[0][1]["applied_version"] == 2
    assert r.counters.refused == 1


async def test_the_same_bundle_again_is_neither_applied_nor_reported_again(keys: tuple[str, str]) -> None:
    """A reconnect re-delivers the retained bundles: once handled, the same bytes are nothing new — applied or
    refused."""
    rules, link = FakeRules(), FakeLink()
    r = receiver(keys, rules, link)
    good, old = signed(STRICTER, 2, keys[0], hall="h1"), signed(RULES, 1, keys[0])
    for _ in range(3):
        await deliver(r, BUNDLE_TOPIC, good)
        await deliver(r, ALL_TOPIC, old)
    assert rules.taken == [(2, BUNDLE_TOPIC)]
    assert link.reports() == [("applied", 2, ""), ("refused", 1, link.reports()[1][2])]
    assert (r.counters.received, r.counters.repeated) == (6, 4)


async def test_after_a_restart_the_applied_bundle_is_recognised_and_reported_once(keys: tuple[str, str]) -> None:
    rules = FakeRules(applied=2, active=2, stored={RULES: 1, STRICTER: 2})  # bundle 2 applied before the restart
    link = FakeLink()
    r = receiver(keys, rules, link)
    good = signed(STRICTER, 2, keys[0], hall="h1")
    await deliver(r, BUNDLE_TOPIC, good)
    await deliver(r, BUNDLE_TOPIC, good)
    assert rules.taken == [] and link.reports() == [("applied", 2, "already applied")]
    assert r.counters.refused == 0


async def test_reports_wait_for_the_broker_and_only_the_newest_is_sent(keys: tuple[str, str]) -> None:
    rules, link = FakeRules(), FakeLink(down=True)
    r = receiver(keys, rules, link)
    await deliver(r, BUNDLE_TOPIC, signed(STRICTER, 2, keys[0], hall="h1"))
    await deliver(r, BUNDLE_TOPIC, signed(STRICTER, 1, keys[0], hall="h1"))
    assert rules.active == 2 and link.sent == [] and r.counters.unsent_reports == 1
    link.down = False
    await r.drain()
    await r.drain()
    assert link.reports() == [("refused", 1, link.reports()[0][2])]  # retained: the newest report is the state
    assert r.counters.unsent_reports == 0


async def test_a_bundle_that_cannot_be_stored_is_refused_and_tried_again_when_delivered_again(
    keys: tuple[str, str],
) -> None:
    rules, link = FakeRules(broken=True), FakeLink()
    r = receiver(keys, rules, link)
    good = signed(STRICTER, 2, keys[0], hall="h1")
    assert await deliver(r, BUNDLE_TOPIC, good) == [BUNDLE_TOPIC]
    assert link.reports() == [("refused", 2, "the gateway could not apply it: disk I/O error")]
    rules.broken = False
    await deliver(r, BUNDLE_TOPIC, good)
    assert rules.taken == [(2, BUNDLE_TOPIC)] and link.reports()[-1] == ("applied", 2, "")


async def test_a_newer_bundle_on_a_topic_supersedes_one_not_taken_yet(keys: tuple[str, str]) -> None:
    rules, link = FakeRules(), FakeLink()
    r = receiver(keys, rules, link)
    acks: list[int] = []
    r.offer(BUNDLE_TOPIC, signed(STRICTER, 2, keys[0], hall="h1"), lambda: acks.append(2))
    r.offer(BUNDLE_TOPIC, signed(RULES, 3, keys[0], hall="h1"), lambda: acks.append(3))
    assert acks == [2]  # the superseded one is acknowledged: the broker keeps the newer one retained anyway
    await r.drain()
    assert acks == [2, 3] and rules.taken == [(3, BUNDLE_TOPIC)]


# -- approval at the hall, keys, expiry, the version step ----------------------------------------------------------


async def test_a_bundle_for_every_hall_that_restarts_devices_and_writes_on_screens_waits_for_approval(
    keys: tuple[str, str],
) -> None:
    rules, link = FakeRules(), FakeLink()
    r = receiver(keys, rules, link)
    await deliver(r, ALL_TOPIC, signed(TAKEOVER, 2, keys[0], hall="*"))
    assert rules.taken == [] and rules.active == 1  # the rules in force are unchanged
    assert rules.held == [(2, 2)] and rules.applied == 2  # stored as rule version 2; the next bundle must be newer
    [(_, report, _, _)] = link.sent
    assert report["status"] == "pending_approval" and report["rule_version"] == 1 and report["applied_version"] == 2
    reason = str(report["reason"])
    assert reason.startswith("stored as rule version 2, waiting for an administrator at the hall to activate it")
    assert "'everyone-restart' (new): restart to subject" in reason and "message.show to call_screens" in reason
    assert r.counters.pending == 1 and r.counters.applied == 0
    await r.drain()
    assert len(link.sent) == 1  # nothing new while it waits
    rules.active = 2  # the hall's administrator activates rule version 2 (API, web UI or CLI)
    await r.drain()
    assert link.reports()[-1] == ("applied", 2, "approved at the hall")
    assert link.sent[-1][1]["rule_version"] == 2 and r.counters.applied == 1
    await r.drain()
    assert len(link.sent) == 2


async def test_a_held_bundle_delivered_again_after_a_restart_is_reported_waiting_once(keys: tuple[str, str]) -> None:
    rules = FakeRules(applied=2, active=1, stored={RULES: 1, TAKEOVER: 2})  # held before the restart
    link = FakeLink()
    r = receiver(keys, rules, link)
    raw = signed(TAKEOVER, 2, keys[0])
    await deliver(r, ALL_TOPIC, raw)
    await deliver(r, BUNDLE_TOPIC, raw)
    assert rules.held == [] and rules.active == 1
    [(status, version, reason)] = link.reports()
    assert (status, version) == ("pending_approval", 2) and "stored as rule version 2" in reason
    rules.active = 2
    await r.drain()
    assert link.reports()[-1] == ("applied", 2, "approved at the hall")


async def test_a_bundle_without_such_commands_still_applies_at_once_after_a_held_one(keys: tuple[str, str]) -> None:
    rules, link = FakeRules(), FakeLink()
    r = receiver(keys, rules, link)
    await deliver(r, ALL_TOPIC, signed(TAKEOVER, 2, keys[0]))
    await deliver(r, BUNDLE_TOPIC, signed(STRICTER, 3, keys[0], hall="h1"))  # the pack's commands run already
    assert rules.taken == [(3, BUNDLE_TOPIC)] and rules.active == 3
    assert link.reports()[-1] == ("applied", 3, "")


async def test_keys_are_trusted_by_id_until_their_last_day(keys: tuple[str, str]) -> None:
    new_private, new_public = new_key()
    trusted = {
        "2025": TrustedKey("2025", keys[1], not_after=date(2026, 11, 22)),  # NOW is the 23rd
        "2026": TrustedKey("2026", new_public),
    }
    rules, link = FakeRules(), FakeLink()
    r = Receiver("h1", trusted, rules, link, now=lambda: NOW)
    await deliver(r, BUNDLE_TOPIC, signed(STRICTER, 2, keys[0], key_id="2025"))
    await deliver(r, BUNDLE_TOPIC, signed(STRICTER, 2, new_private, key_id="unknown"))
    await deliver(r, BUNDLE_TOPIC, signed(STRICTER, 2, new_private, key_id="2026"))
    assert [s for s, _, _ in link.reports()] == ["refused", "refused", "applied"]
    assert rules.taken == [(2, BUNDLE_TOPIC)]


async def test_refusals_of_retired_and_unknown_keys_say_why(keys: tuple[str, str]) -> None:
    retired = {"2025": TrustedKey("2025", keys[1], not_after=date(2026, 11, 22))}
    link = FakeLink()
    r = Receiver("h1", retired, FakeRules(), link, now=lambda: NOW)
    await deliver(r, BUNDLE_TOPIC, signed(STRICTER, 2, keys[0], key_id="2025"))
    assert link.reports()[-1] == ("refused", 2, "key '2025' was trusted until 2026-11-22; it has been retired")
    await deliver(r, BUNDLE_TOPIC, signed(STRICTER, 2, keys[0], key_id="2024"))
    assert link.reports()[-1][2] == "signed with key '2024', which this gateway does not trust (trusted: 2025)"


async def test_an_expired_bundle_is_refused_by_the_receivers_clock(keys: tuple[str, str]) -> None:
    rules, link = FakeRules(), FakeLink()
    clock = [NOW]
    trusted = {"default": TrustedKey("default", keys[1])}
    r = Receiver("h1", trusted, rules, link, now=lambda: clock[0])
    raw = signed(STRICTER, 2, keys[0], expires_in=timedelta(days=30))
    clock[0] = NOW + timedelta(days=30)
    await deliver(r, BUNDLE_TOPIC, raw)
    assert rules.taken == [] and link.reports() == [("refused", 2, f"the bundle expired at {clock[0].isoformat()}")]


async def test_a_version_far_ahead_is_refused_and_does_not_block_later_bundles(keys: tuple[str, str]) -> None:
    rules, link = FakeRules(applied=2, active=1), FakeLink()
    r = receiver(keys, rules, link)
    await deliver(r, BUNDLE_TOPIC, signed(STRICTER, 2**53, keys[0]))
    assert rules.applied == 2 and rules.taken == []
    [(status, version, reason)] = link.reports()
    assert (status, version) == ("refused", 2**53) and "more than 1000 above the applied version 2" in reason
    assert link.sent[0][1]["applied_version"] == 2
    await deliver(r, BUNDLE_TOPIC, signed(STRICTER, 3, keys[0]))
    assert rules.taken == [(3, BUNDLE_TOPIC)] and link.reports()[-1] == ("applied", 3, "")


async def test_the_version_step_is_configurable(keys: tuple[str, str]) -> None:
    rules, link = FakeRules(applied=2), FakeLink()
    r = receiver(keys, rules, link, max_step=5)
    await deliver(r, BUNDLE_TOPIC, signed(STRICTER, 8, keys[0]))
    await deliver(r, ALL_TOPIC, signed(STRICTER, 7, keys[0]))
    assert [s for s, _, _ in link.reports()] == ["refused", "applied"] and rules.applied == 7


def test_claimed_version_never_fails() -> None:
    assert claimed_version(bundle_body(version=5)) == 5
    for raw in (b"", b"[]", b'{"header": []}', b'{"header": {"version": true}}', b"\xff"):
        assert claimed_version(raw) is None


# -- hallops rules push, without a broker -----------------------------------------------------------------------


def test_push_says_what_is_wrong_with_the_file_and_the_broker(
    tmp_path: Path, keys: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    unsigned = tmp_path / "rules.yaml"
    unsigned.write_text(RULES, encoding="utf-8")
    bundle = tmp_path / "v2.json"
    bundle.write_bytes(signed(STRICTER, 2, keys[0], hall="h1"))
    assert main(["rules", "push", str(tmp_path / "missing.json"), "--broker", url]) == 2
    assert main(["rules", "push", str(unsigned), "--broker", url]) == 2
    assert main(["rules", "push", str(bundle), "--broker", url, "--password-file", str(tmp_path / "nope")]) == 2
    assert main(["rules", "push", str(bundle), "--broker", url, "--timeout", "3"]) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "missing.json" in err
    assert "not a signed rule bundle (make one with `hallops rules sign`)" in err
    assert "cannot reach the broker at 127.0.0.1" in err
    with pytest.raises(SystemExit) as exc:
        main(["rules", "push", str(bundle), "--broker", "http://cloud:1883"])
    assert exc.value.code == 2


# -- the gateway's trusted key ----------------------------------------------------------------------------------


def test_the_trusted_key_is_checked_when_the_gateway_starts(tmp_path: Path, keys: tuple[str, str]) -> None:
    pub = tmp_path / "bundle.pub"
    pub.write_text(keys[1] + "\n", encoding="ascii")
    config = tmp_path / "gateway.yaml"

    def problems(hall: str, key: Path) -> list[str]:
        config.write_text(f"hall: {{id: {hall}}}\nrules: {{bundle_public_key: {key}}}\n", encoding="utf-8")
        try:
            load_config(config)
        except ConfigError as exc:
            return [str(p) for p in exc.problems]
        return []

    assert problems("h1", pub) == []
    assert problems("h1", tmp_path / "missing.pub") == [
        f"rules.bundle_public_key: no such file: {tmp_path}/missing.pub"
    ]
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    [wrong] = problems("h1", tmp_path / "rules.yaml")
    assert wrong.startswith("rules.bundle_public_key: ") and "not an Ed25519 public key" in wrong
    assert problems("all", pub) == [
        "hall.id: 'all' is the topic of the bundles for every hall; choose another id to take rule bundles"
    ]


def test_several_keys_by_id_are_checked_when_the_gateway_starts(tmp_path: Path, keys: tuple[str, str]) -> None:
    for name in ("bundle", "2026"):
        (tmp_path / f"{name}.pub").write_text(new_key()[1] + "\n", encoding="ascii")
    config = tmp_path / "gateway.yaml"

    def problems(rules: str) -> list[str]:
        config.write_text(f"hall: {{id: h1}}\nrules:\n{rules}", encoding="utf-8")
        try:
            load_config(config)
        except ConfigError as exc:
            return [str(p) for p in exc.problems]
        return []

    rotation = (
        f"  bundle_public_key: {tmp_path}/bundle.pub\n"
        f"  bundle_keys:\n    - {{id: '2026', key: {tmp_path}/2026.pub, not_after: 2027-06-30}}\n"
    )
    assert problems(rotation) == []
    assert problems(rotation + f"    - {{id: default, key: {tmp_path}/2026.pub}}\n") == [
        "rules.bundle_keys[1].id: key id 'default' is used twice (also by rules.bundle_public_key)"
    ]
    assert problems(f"  bundle_keys:\n    - {{id: k1, key: {tmp_path}/missing.pub}}\n") == [
        f"rules.bundle_keys[0].key: no such file: {tmp_path}/missing.pub"
    ]
    [bad_id] = problems(f"  bundle_keys:\n    - {{id: 'a/b', key: {tmp_path}/2026.pub}}\n")
    assert bad_id.startswith("rules.bundle_keys[0].id")
    [bad_step] = problems("  bundle_max_version_step: 0\n")
    assert bad_step.startswith("rules.bundle_max_version_step")
