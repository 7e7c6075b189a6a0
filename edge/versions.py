"""Rule versions: every change of the rules is a new immutable version; one is in force, one may run in shadow.

    add(YAML, author, comment) ─▶ validated, hashed ─▶ version N (never edited or deleted: SQLite triggers refuse)
    activate(N) / rollback() / promote the shadow ─▶ meta `rules_active` ─▶ the gateway reloads (keeping the timers
                                                                          of the rules that did not change)
    shadow(N) ─▶ meta `rules_shadow` ─▶ the gateway runs N beside the active version without acting on it

    take_bundle(verified bundle) ─▶ version N, in force ─ or, when it needs approval at the hall, stored only: an
                                   administrator puts it in force with activate(N) (API, web UI or CLI), audited

The same YAML is the same version (the content hash is unique), so re-adding a file or re-applying a bundle does not
create a copy. Every activation is kept (`rule_activations`) and audited in the same transaction; `rollback` puts
back the version that was in force before the current one. The CLI and the API change the database; a running
gateway notices within a second (`Gateway` checks the meta keys), so a change from either takes effect live.
"""

from __future__ import annotations

import difflib
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass

import yaml

from devices.errors import ConfigError, Problem
from edge.audit import Entry
from edge.store import Store, VersionRow
from rules.engine import rule_key
from rules.language import RuleFile, parse_rules

ACTIVE, SHADOW, FILE_HASH = "rules_active", "rules_shadow", "rules_file_hash"
BUNDLE = "rules_bundle_version"  # the signed bundle taken last, in force or waiting for approval (0: none)


@dataclass(frozen=True)
class RuleVersion:
    number: int
    hash: str
    created_at: float
    author: str
    comment: str
    origin: str
    source: str

    @classmethod
    def of(cls, row: VersionRow) -> RuleVersion:
        return cls(row.number, row.hash, row.created_at, row.author, row.comment, row.origin, row.source)

    @property
    def rules(self) -> RuleFile:
        return parsed(self.hash, lambda: parse_rules(yaml.safe_load(self.source), f"rule version {self.number}"))

    def summary(self) -> dict[str, object]:
        return {
            "number": self.number,
            "hash": self.hash,
            "created_at": self.created_at,
            "author": self.author,
            "comment": self.comment,
            "origin": self.origin,
            "rules": len(self.rules.rules),
        }


@dataclass(frozen=True, slots=True)
class VersionDiff:
    old: int
    new: int
    added: list[str]  # rule ids
    removed: list[str]
    changed: list[str]  # the rule's definition differs (its own fields or the schedule it runs in)
    unified: str  # the YAML as a unified diff
    settings_changed: bool  # schedules or inhibitions differ

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def content_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


_PARSED: OrderedDict[str, RuleFile] = OrderedDict()
_PARSED_LOCK = threading.Lock()  # backtests read versions from their threads
PARSED_KEPT = 32  # rule files kept parsed, the newest used: the version list and the diffs read them again and again


def parsed(content: str, parse: Callable[[], RuleFile]) -> RuleFile:
    """The rule file whose text has the hash `content`, parsed once per process (`parse()` the first time): a stored
    version never changes, and a big one takes seconds to validate — the API must not do it at every listing."""
    with _PARSED_LOCK:
        rules = _PARSED.get(content)
        if rules is not None:
            _PARSED.move_to_end(content)
            return rules
    rules = parse()  # outside the lock: seconds for a big file
    with _PARSED_LOCK:
        _PARSED[content] = rules
        while len(_PARSED) > PARSED_KEPT:
            _PARSED.popitem(last=False)
    return rules


def parse_source(source: str, name: str = "rules") -> RuleFile:
    """The YAML text as a rule file; ConfigError with every problem (YAML syntax included) otherwise."""
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(name, [Problem("", f"YAML syntax{where}: {getattr(exc, 'problem', exc)}")]) from exc
    return parse_rules(data, name)


def diff(old: RuleVersion, new: RuleVersion) -> VersionDiff:
    a, b = old.rules, new.rules
    before = {r.id: rule_key(a, r) for r in a.rules}
    after = {r.id: rule_key(b, r) for r in b.rules}
    unified = "".join(
        difflib.unified_diff(
            old.source.splitlines(keepends=True),
            new.source.splitlines(keepends=True),
            f"version {old.number}",
            f"version {new.number}",
        )
    )
    return VersionDiff(
        old.number,
        new.number,
        sorted(set(after) - set(before)),
        sorted(set(before) - set(after)),
        sorted(rid for rid in set(before) & set(after) if before[rid] != after[rid]),
        unified,
        a.model_dump(include={"schedules", "inhibit"}) != b.model_dump(include={"schedules", "inhibit"}),
    )


class RuleVersions:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- reading ------------------------------------------------------------------------------------------

    def all(self) -> list[RuleVersion]:
        return [RuleVersion.of(row) for row in self._store.rule_versions.rows()]

    def get(self, number: int) -> RuleVersion:
        rows = self._store.rule_versions.rows(number=number)
        if not rows:
            raise KeyError(number)
        return RuleVersion.of(rows[0])

    def active_number(self) -> int | None:
        value = self._store.meta.get(ACTIVE)
        return int(value) if value else None

    def shadow_number(self) -> int | None:
        value = self._store.meta.get(SHADOW)
        return int(value) if value else None

    def active(self) -> RuleVersion | None:
        n = self.active_number()
        return self.get(n) if n is not None else None

    def applied_bundle(self) -> int:
        """The version of the signed bundle taken last (in force or waiting for approval); 0: none."""
        return int(self._store.meta.get(BUNDLE) or 0)

    def activations(self, limit: int = 100) -> list[dict[str, object]]:
        return [
            {"id": a.id, "at": a.at, "number": a.number, "kind": a.kind, "by": a.by, "comment": a.comment}
            for a in self._store.rule_versions.activations(limit)
        ]

    # -- changing -----------------------------------------------------------------------------------------

    def add(
        self, source: str, author: str, comment: str, origin: str, name: str = "rules", rules: RuleFile | None = None
    ) -> tuple[RuleVersion, bool]:
        """Validate and store a new version; (version, False) if this very YAML is already a version. ConfigError
        (naming `name`) for invalid rules. `rules`: the text parsed already (the API does that off the event loop)."""
        h = content_hash(source)
        parsed(h, lambda: rules or parse_source(source, name))
        existing = self._store.rule_versions.rows(content_hash=h)
        if existing:
            return RuleVersion.of(existing[0]), False
        now = time.time()
        detail = {"comment": comment, "origin": origin, "hash": h}
        number = self._store.rule_versions.add(
            content_hash=h,
            created_at=now,
            author=author,
            comment=comment,
            origin=origin,
            source=source,
            entry=Entry(now, author, "rules.version_add", "", detail),
        )
        return self.get(number), True

    def activate(self, number: int, by: str, comment: str = "", kind: str = "activate") -> RuleVersion:
        """Put a version in force (KeyError: no such version). A shadow of the same version ends with it."""
        version = self.get(number)
        was = self.active_number()
        meta = {ACTIVE: str(number)}
        if self.shadow_number() == number:
            meta[SHADOW] = ""
        detail = {"was": was, "comment": comment}
        self._store.rule_versions.activate(
            number, kind, by, comment, time.time(), meta, Entry(time.time(), by, f"rules.{kind}", str(number), detail)
        )
        return version

    def rollback(self, by: str, comment: str = "") -> RuleVersion:
        """Put back the version in force before the current one (LookupError if there is none)."""
        current = self.active_number()
        for row in self._store.rule_versions.activations(limit=1000):
            if row.kind in ("activate", "rollback", "promote") and row.number != current:
                return self.activate(row.number, by, comment, kind="rollback")
        raise LookupError("no earlier version has been in force")

    def set_shadow(self, number: int | None, by: str, comment: str = "") -> RuleVersion | None:
        """Run `number` in shadow beside the active version (None: stop). ValueError for the active version."""
        if number is not None:
            version = self.get(number)
            if number == self.active_number():
                raise ValueError(f"version {number} is the one in force; shadow another version")
        else:
            version = None
        now = time.time()
        kind = "shadow" if number is not None else "shadow_off"
        self._store.rule_versions.activate(
            number or 0,
            kind,
            by,
            comment,
            now,
            {SHADOW: str(number or "")},
            Entry(now, by, f"rules.{kind}", str(number or self.shadow_number() or ""), {"comment": comment}),
        )
        return version

    def take_bundle(
        self,
        source: str,
        bundle: int,
        hall: str,
        by: str,
        via: str,
        hold: list[str] | None = None,
        rules: RuleFile | None = None,
    ) -> RuleVersion:
        """A verified signed bundle, newer than the one taken last: its rules become a version (origin `bundle:N`),
        put in force by `by` — unless `hold` says why an administrator at the hall must approve it first: then it is
        only stored. The bundle version is recorded either way (the next bundle must be newer), with
        `rules.apply_bundle` or `rules.hold_bundle` in the audit log."""
        was = self.applied_bundle()
        label = f"bundle:{bundle}"
        comment = f"signed bundle {bundle}"
        if hold:
            comment += ": held for approval at the hall (activating it approves it)"
        version, _ = self.add(source, label, comment, label, rules=rules)
        if not hold:
            self.activate(version.number, by, f"signed bundle {bundle} from {via}")
        self._store.meta.set(BUNDLE, str(bundle))
        detail: dict[str, object] = {
            "hall": hall,
            "rules": len(version.rules.rules),
            "was": was,
            "rule_version": version.number,
            "via": via,
        }
        if hold:
            detail["needs_approval"] = hold
        action = "rules.hold_bundle" if hold else "rules.apply_bundle"
        self._store.audit.append([Entry(time.time(), by, action, str(bundle), detail)])
        return version

    def bootstrap(self, source: str, origin: str) -> RuleVersion:
        """At the gateway's start: the version in force. The configured file (or the built-in pack) becomes a version
        and is activated when the database has none yet, or when the file changed since the last start (someone
        edited it on purpose); otherwise the version last activated stays in force, whatever the file says."""
        h = content_hash(source)
        current = self.active_number()
        if current is not None and self._store.meta.get(FILE_HASH) == h:
            return self.get(current)
        version, _ = self.add(source, "config", f"from {origin}", f"config:{origin}")
        if version.number != current:
            self.activate(version.number, "config", f"the configured rules ({origin}) changed")
        self._store.meta.set(FILE_HASH, h)
        return version
