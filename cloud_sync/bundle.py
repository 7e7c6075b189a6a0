"""Signed rule bundles: rules made centrally (city/province) and applied on a hall's box only if they are genuine,
meant for this hall, unexpired, valid, and newer than what the box already applied — and put in force only if
nothing in them reaches the public or takes a device out of service without an administrator at the hall saying so.

A bundle is one JSON document: a header (format, the signing key's id, hall or "*", version, when it was made, when
it expires, the rules' SHA-256) and the rule YAML, signed together with Ed25519 (the `cryptography` library). The
box trusts several keys by id (rotation: a new key is added beside the old one before bundles are signed with it,
and the old one is dropped or runs out at its `not_after`).

`verify` checks, in order: the document's shape, that the key it names is trusted and still valid, the signature,
the format, the expiry, the hall, the version's range, the hash, and finally the rules themselves with the same
validation as `hallops rules validate`. `check_newer` then compares the version with the one applied (no downgrade,
no replay, no jump that would block every later bundle), and `approval_needed` says what in the rules must wait for
an administrator at the hall. Any failure raises BundleError with the reason; nothing is applied. Pure apart from
the crypto: no files, no network — the CLI and the gateway's receiver read, write and store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from devices.errors import ConfigError
from rules.alerts import rule_key
from rules.language import CommandAction, Rule, RuleFile, parse_rules, summarise

FORMAT = "hallops-rules/2"  # /1 had neither a key id nor an expiry
DEFAULT_KEY_ID = "default"  # the id of `rules.bundle_public_key`, and of a key made without --id
KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
MAX_VERSION = 2**53  # the largest integer every JSON reader keeps exactly
DEFAULT_MAX_STEP = 1000  # rules.bundle_max_version_step
DEFAULT_EXPIRY = timedelta(days=30)
MAX_EXPIRY = timedelta(days=365)


class BundleError(ValueError):
    """The bundle must not be applied; the message says why."""


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key a hall's box trusts for bundles: its id (the header names it), the key (base64 of the 32 raw
    bytes of `<id>.pub`), and the last day it is trusted (None: until it is removed)."""

    id: str
    public: str
    not_after: date | None = None


@dataclass(frozen=True, slots=True)
class Bundle:
    hall: str  # a hall id, or "*" for every hall
    version: int
    created_at: str
    rules_yaml: str
    rules: RuleFile
    key_id: str = DEFAULT_KEY_ID
    expires_at: str = ""


def new_key() -> tuple[str, str]:
    """(private, public) Ed25519 keys as base64 text: the private one stays with whoever signs."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes_raw()
    public = key.public_key().public_bytes_raw()
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def _signed_bytes(header: Mapping[str, object], rules_yaml: str) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\n" + rules_yaml.encode()


def valid_version(version: object) -> bool:
    """A whole number 1…2^53; JSON's true is not 1 (Python's bool is an int)."""
    return isinstance(version, int) and not isinstance(version, bool) and 1 <= version <= MAX_VERSION


def sign(
    rules_yaml: str,
    version: int,
    private_key: str,
    hall: str = "*",
    now: datetime | None = None,
    *,
    key_id: str = DEFAULT_KEY_ID,
    expires_in: timedelta = DEFAULT_EXPIRY,
) -> bytes:
    """A bundle of `rules_yaml` as `version` for `hall`, signed with the key the halls know as `key_id`, which the
    halls refuse after `expires_in`. The rules are validated first: a broken file is not signed."""
    try:
        parse_rules(yaml.safe_load(rules_yaml), "rules")
    except (ConfigError, yaml.YAMLError) as exc:
        raise BundleError(f"the rules are not valid, not signing them: {exc}") from None
    if not valid_version(version):
        raise BundleError(f"version: must be a whole number from 1 to {MAX_VERSION}")
    if not KEY_ID.match(key_id):
        raise BundleError(f"key id {key_id!r}: letters, digits, '.', '_' or '-', up to 64")
    if not timedelta(0) < expires_in <= MAX_EXPIRY:
        raise BundleError(f"expiry: more than 0 and at most {MAX_EXPIRY.days} days")
    made = now or datetime.now(UTC)
    header: dict[str, object] = {
        "format": FORMAT,
        "key_id": key_id,
        "hall": hall,
        "version": version,
        "created_at": made.isoformat(),
        "expires_at": (made + expires_in).isoformat(),
        "rules_sha256": hashlib.sha256(rules_yaml.encode()).hexdigest(),
    }
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key))
    signature = key.sign(_signed_bytes(header, rules_yaml))
    body = {"header": header, "rules": rules_yaml, "signature": base64.b64encode(signature).decode()}
    return json.dumps(body, ensure_ascii=False, indent=1).encode()


def verify(raw: bytes, keys: Mapping[str, TrustedKey], hall: str, now: datetime) -> Bundle:
    """The bundle, if it is genuine (signed by a key in `keys` that is still trusted at `now`), unexpired at `now`,
    meant for `hall` and valid. Whether it is newer than the one applied is `check_newer`'s question."""
    try:
        body = json.loads(raw)
        header, rules_yaml, signature = body["header"], body["rules"], base64.b64decode(body["signature"])
        if not (isinstance(header, dict) and isinstance(rules_yaml, str)):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise BundleError("not a rule bundle (header, rules and signature expected)") from None
    if header.get("format") != FORMAT:  # before the key: a /1 bundle names none, and the fix is to sign it again
        raise BundleError(f"format {header.get('format')!r}: this gateway reads {FORMAT} (sign it again)")
    key_id = header.get("key_id")
    key = keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        trusted = ", ".join(sorted(keys)) or "none"
        raise BundleError(f"signed with key {key_id!r}, which this gateway does not trust (trusted: {trusted})")
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key.public)).verify(
            signature, _signed_bytes(header, rules_yaml)
        )
    except (InvalidSignature, ValueError):
        raise BundleError(
            f"the signature does not match key {key.id!r}: the bundle was altered, or signed with another key"
        ) from None
    if key.not_after is not None and now.date() > key.not_after:
        raise BundleError(f"key {key.id!r} was trusted until {key.not_after.isoformat()}; it has been retired")
    expires = _moment(header.get("expires_at"))
    if expires is None:
        raise BundleError("the signed header has no valid expires_at")
    if now >= expires:
        raise BundleError(f"the bundle expired at {expires.isoformat()}")
    if header.get("hall") not in ("*", hall):
        raise BundleError(f"the bundle is for hall {header.get('hall')!r}, this is {hall!r}")
    version = header.get("version")
    if not valid_version(version):
        raise BundleError(f"version {version!r} is not a whole number from 1 to {MAX_VERSION}")
    assert isinstance(version, int)
    if hashlib.sha256(rules_yaml.encode()).hexdigest() != header.get("rules_sha256"):
        raise BundleError("the rules do not match the hash in the signed header")
    try:
        rules = parse_rules(yaml.safe_load(rules_yaml), f"bundle version {version}")
    except (ConfigError, yaml.YAMLError) as exc:
        raise BundleError(f"the rules are not valid: {exc}") from None
    created = str(header.get("created_at"))
    return Bundle(str(header["hall"]), version, created, rules_yaml, rules, key.id, expires.isoformat())


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def check_newer(version: int, applied: int, max_step: int = DEFAULT_MAX_STEP) -> None:
    """BundleError unless `version` may follow the bundle applied last (`applied`, 0: none): higher (no downgrade,
    no replay) and by at most `max_step`, so that one mistaken number (10^20) cannot become a version no later bundle
    can pass."""
    if version <= applied:
        raise BundleError(
            f"version {version} is not newer than the applied version {applied} (no downgrade, no replay)"
        )
    if version - applied > max_step:
        raise BundleError(
            f"version {version} is more than {max_step} above the applied version {applied} "
            "(rules.bundle_max_version_step): refused, so that one wrong number cannot block every later bundle"
        )


# What each command does that the cloud must not do to a hall without an administrator there. Only `nudge` to the
# window of a window rule is missing: it is a line of text on that window's staff terminal, the same audience and the
# same kind of text an alert's message already is.
_REACH = {
    "restart": "restarts the application of a kiosk or call screen, in the middle of service",
    "self_test": "takes a kiosk out of service while it tests itself",
    "message.show": "shows text on a screen the public sees",
    "call.announce": "shows and announces a number on the public call screens and their speakers",
    "recall": "calls a ticket again, on the public call screens and speakers",
    "ticket.reactivate": "puts a missed ticket back at the front of the queue",
    "nudge": "sends text to a device other than a window's staff terminal",
}


def approval_needed(rules: RuleFile, in_force: RuleFile) -> list[str]:
    """Why `rules` must wait for an administrator at the hall before going in force: each command of a new or changed
    rule that reaches the public or a device's service. A rule that behaves exactly as the one in force (the same
    definition, schedule and inhibitions) runs already and needs nothing. Empty: put it in force."""
    before = {r.id: _behaviour(in_force, r) for r in in_force.rules}
    window_rules = {s.id for s in summarise(rules) if s.kind == "condition" and s.subject == "window"}
    reasons = []
    for rule in rules.rules:
        reaching = [
            a.command
            for a in rule.then
            if a.command is not None and not _staff_only(a.command, rule.id in window_rules)
        ]
        if not reaching or before.get(rule.id) == _behaviour(rules, rule):
            continue
        change = "changed" if rule.id in before else "new"
        reasons += [f"rule {rule.id!r} ({change}): {c.type} to {c.target} {_REACH[c.type]}" for c in reaching]
    return reasons


def _staff_only(command: CommandAction, window_rule: bool) -> bool:
    return command.type == "nudge" and command.target == "subject" and window_rule


def _behaviour(rules: RuleFile, rule: Rule) -> str:
    """What decides when a rule acts: its definition and schedule, and the inhibitions that keep it quiet with the
    definitions of their source rules (a source changed to never fire lets the rule act more often)."""
    by_id = {r.id: r for r in rules.rules}
    muting = sorted(
        i.model_dump_json() + (rule_key(rules, by_id[i.source]) if i.source in by_id else "")
        for i in rules.inhibit
        if i.target == rule.id
    )
    return rule_key(rules, rule) + "".join(muting)
