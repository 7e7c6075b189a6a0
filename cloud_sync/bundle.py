"""Signed rule bundles: rules made centrally (city/province) and applied on a hall's box only if they are genuine,
meant for this hall, valid, and newer than what the box already applied.

A bundle is one JSON document: a header (format, hall or "*", version, time, the rules' SHA-256) and the rule YAML,
signed together with Ed25519 (the `cryptography` library). `verify` checks, in order: the document's shape, the
signature against the hall's trusted public key, the hall, the version against the last one applied (no downgrade,
no replay), the hash, and finally the rules themselves with the same validation as `hallops rules validate`.
Any failure raises BundleError with the reason; nothing is applied. Pure apart from the crypto: no files, no
network — the CLI (and later the cloud uplink) reads and writes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from devices.errors import ConfigError
from rules.language import RuleFile, parse_rules

FORMAT = "hallops-rules/1"


class BundleError(ValueError):
    """The bundle must not be applied; the message says why."""


@dataclass(frozen=True, slots=True)
class Bundle:
    hall: str  # a hall id, or "*" for every hall
    version: int
    created_at: str
    rules_yaml: str
    rules: RuleFile


def new_key() -> tuple[str, str]:
    """(private, public) Ed25519 keys as base64 text: the private one stays with whoever signs."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes_raw()
    public = key.public_key().public_bytes_raw()
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def _signed_bytes(header: dict[str, object], rules_yaml: str) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\n" + rules_yaml.encode()


def sign(rules_yaml: str, version: int, private_key: str, hall: str = "*", now: datetime | None = None) -> bytes:
    """A bundle of `rules_yaml` as `version` for `hall`. The rules are validated first: a broken file is not
    signed."""
    try:
        parse_rules(yaml.safe_load(rules_yaml), "rules")
    except (ConfigError, yaml.YAMLError) as exc:
        raise BundleError(f"the rules are not valid, not signing them: {exc}") from None
    if version < 1:
        raise BundleError("version: must be 1 or more")
    header: dict[str, object] = {
        "format": FORMAT,
        "hall": hall,
        "version": version,
        "created_at": (now or datetime.now(UTC)).isoformat(),
        "rules_sha256": hashlib.sha256(rules_yaml.encode()).hexdigest(),
    }
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key))
    signature = key.sign(_signed_bytes(header, rules_yaml))
    body = {"header": header, "rules": rules_yaml, "signature": base64.b64encode(signature).decode()}
    return json.dumps(body, ensure_ascii=False, indent=1).encode()


def verify(raw: bytes, public_key: str, hall: str, applied_version: int) -> Bundle:
    """The bundle, if it may be applied on `hall` whose last applied version is `applied_version` (0: none)."""
    try:
        body = json.loads(raw)
        header, rules_yaml, signature = body["header"], body["rules"], base64.b64decode(body["signature"])
        assert isinstance(header, dict) and isinstance(rules_yaml, str)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise BundleError("not a rule bundle (header, rules and signature expected)") from None
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(signature, _signed_bytes(header, rules_yaml))
    except (InvalidSignature, ValueError):
        raise BundleError("the signature does not match: the bundle was altered, or signed with another key") from None
    if header.get("format") != FORMAT:
        raise BundleError(f"format {header.get('format')!r}: this gateway reads {FORMAT}")
    if header.get("hall") not in ("*", hall):
        raise BundleError(f"the bundle is for hall {header.get('hall')!r}, this is {hall!r}")
    version = header.get("version")
    if not isinstance(version, int) or version <= applied_version:
        raise BundleError(f"version {version} is not newer than the applied version {applied_version} (no downgrade)")
    if hashlib.sha256(rules_yaml.encode()).hexdigest() != header.get("rules_sha256"):
        raise BundleError("the rules do not match the hash in the signed header")
    try:
        rules = parse_rules(yaml.safe_load(rules_yaml), f"bundle version {version}")
    except (ConfigError, yaml.YAMLError) as exc:
        raise BundleError(f"the rules are not valid: {exc}") from None
    return Bundle(str(header["hall"]), version, str(header.get("created_at")), rules_yaml, rules)
