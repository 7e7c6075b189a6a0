"""Duplicate detection by sequence number: which `seq` numbers of one device were already applied, per counter epoch.

Owns `SeqRanges` (also used by `rules.kpi`'s day book, so both drop the same messages). Pure bookkeeping of
numbers: it must not know about messages, devices or the hall.

A device's `seq` counts up from wherever its counter last started; a restart may start it again at 1 while older
messages, numbered higher, are still waiting at the broker to be redelivered. So the numbers are kept per **epoch**
— one run of the counter. A device that sends `boot` (docs/contract.md, "Counter epochs") names its epoch on every
message: duplicates are the same (boot, seq). A device that does not is guessed at: a lower number with a newer `ts`
than anything of its epoch starts a new one, and a message is taken for one of the epoch whose time span it falls in
— so a redelivered old message, numbered within the old epoch and dated within it, is still recognised.
"""

from __future__ import annotations

import math
from bisect import bisect_left

MAX_SEQ_RANGES = 512  # per epoch: how fragmented the record of seen `seq` numbers may get
MAX_EPOCHS = 4  # per device: the last few runs of its counter (a device restarting in a loop forgets the oldest)


class _Epoch:
    """One run of a device's counter: its `boot` (None: guessed), the numbers seen and the time span they cover."""

    __slots__ = ("boot", "first_at", "latest_at", "ranges")

    def __init__(self, boot: str | None, first_at: float, latest_at: float, ranges: list[list[int]]) -> None:
        self.boot = boot
        self.first_at = first_at
        self.latest_at = latest_at
        self.ranges = ranges


class SeqRanges:
    """Which `seq` numbers of one device were applied, per epoch, as sorted closed ranges — usually a single one.

    QoS 1 redelivers whatever was not acknowledged when a connection broke, which after a broker restart can be
    thousands of messages; remembering the numbers as ranges recognises all of them in constant memory.
    """

    __slots__ = ("epochs",)

    def __init__(self, epochs: list[_Epoch] | None = None) -> None:
        self.epochs: list[_Epoch] = epochs or []

    def add(self, seq: int, at: float, boot: str | None = None) -> bool:
        """Record `seq` of epoch `boot` (None: the device does not say), sent at `at` (its `ts`); False if it was
        already there (a duplicate)."""
        epochs = self.epochs
        if boot is None and len(epochs) == 1 and epochs[0].boot is None:  # nearly always: one run, no boot id
            epoch = epochs[0]
            if epoch.ranges and seq < epoch.ranges[-1][1] and at > epoch.latest_at:
                epoch = self._begin(None, at)  # a lower number, sent later than anything of this run: a restart
        else:
            epoch = self._epoch(seq, at, boot)
        # (comparisons, not min/max: this is every message's path)
        if at < epoch.first_at:  # noqa: PLR1730
            epoch.first_at = at
        if at > epoch.latest_at:  # noqa: PLR1730
            epoch.latest_at = at
        r = epoch.ranges
        i = bisect_left(r, [seq + 1]) - 1  # the last range starting at or before seq
        if i >= 0 and r[i][0] <= seq <= r[i][1]:
            return False
        joins_left = i >= 0 and r[i][1] == seq - 1
        joins_right = i + 1 < len(r) and r[i + 1][0] == seq + 1
        if joins_left and joins_right:
            r[i][1] = r[i + 1][1]
            del r[i + 1]
        elif joins_left:
            r[i][1] = seq
        elif joins_right:
            r[i + 1][0] = seq
        else:
            r.insert(i + 1, [seq, seq])
            if len(r) > MAX_SEQ_RANGES:
                del r[0]
        return True

    def _epoch(self, seq: int, at: float, boot: str | None) -> _Epoch:
        epochs = self.epochs
        if boot is not None:
            for e in epochs:
                if e.boot == boot:
                    return e
            return self._begin(boot, at)
        if not epochs:
            return self._begin(None, at)
        # without a boot id: the epoch whose time span the message falls in — the newest begun at or before it, or
        # the oldest kept if it is older than all of them
        newest = max(epochs, key=_begun)
        began = [e for e in epochs if e.first_at <= at]
        epoch = max(began, key=_begun) if began else min(epochs, key=_begun)
        if epoch is newest and epoch.ranges and seq < epoch.ranges[-1][1] and at > epoch.latest_at:
            return self._begin(None, at)  # a lower number, sent later than anything of this run: the counter restarted
        return epoch

    def _begin(self, boot: str | None, at: float) -> _Epoch:
        epoch = _Epoch(boot, at, at, [])
        self.epochs.append(epoch)
        if len(self.epochs) > MAX_EPOCHS:
            self.epochs.remove(min(self.epochs, key=lambda e: e.latest_at))
        return epoch

    def dump(self) -> list[list[object]]:
        """Per epoch: boot (None: guessed), first and newest `ts` (None: not known) and the ranges, flat."""
        return [
            [e.boot, _finite(e.first_at), _finite(e.latest_at), [n for pair in e.ranges for n in pair]]
            for e in self.epochs
        ]

    @classmethod
    def load(cls, raw: object) -> SeqRanges:
        """What `dump` wrote; or the form saved before epochs (`{"ranges": [[a, b], …], "latest_at": t}`), read as one
        guessed epoch. Raises ValueError, TypeError or KeyError when it is neither."""
        if isinstance(raw, dict):
            latest = raw["latest_at"]
            ranges = [[int(a), int(b)] for a, b in raw["ranges"]]
            return cls([_Epoch(None, -math.inf, _time(latest, -math.inf), ranges)] if ranges else [])
        if not isinstance(raw, list):
            raise TypeError(f"seq ranges are a list of epochs, not {type(raw).__name__}")
        epochs = []
        for boot, first_at, latest_at, flat in raw:
            if len(flat) % 2:
                raise ValueError("seq ranges come in pairs")
            if boot is not None and not isinstance(boot, str):
                raise TypeError(f"an epoch's boot is a string, not {type(boot).__name__}")
            ranges = [[int(flat[i]), int(flat[i + 1])] for i in range(0, len(flat), 2)]
            epochs.append(_Epoch(boot, _time(first_at, -math.inf), _time(latest_at, -math.inf), ranges))
        return cls(epochs[-MAX_EPOCHS:])


def _begun(e: _Epoch) -> float:
    return e.first_at


def _finite(t: float) -> float | None:
    return t if math.isfinite(t) else None


def _time(raw: object, default: float) -> float:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise TypeError(f"a time is a number, not {type(raw).__name__}")
    return float(raw)
