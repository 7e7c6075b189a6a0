"""Duplicate detection by sequence number: which `seq` numbers of one device were already applied.

Owns `SeqRanges` (also used by `rules.kpi`'s day book, so both drop the same messages). Pure bookkeeping of
numbers: it must not know about messages, devices or the hall.
"""

from __future__ import annotations

from bisect import bisect_left

MAX_SEQ_RANGES = 512  # per device: how fragmented the record of seen `seq` numbers may get


class SeqRanges:
    """Which `seq` numbers of one device were applied, as sorted closed ranges — usually a single one.

    QoS 1 redelivers whatever was not acknowledged when a connection broke, which after a broker restart can be
    thousands of messages; remembering the numbers as ranges recognises all of them in constant memory. A lower
    number with a newer timestamp than anything seen means the device restarted its counter: start afresh.
    """

    __slots__ = ("latest_at", "ranges")

    def __init__(self, ranges: list[list[int]] | None = None, latest_at: float = float("-inf")) -> None:
        self.ranges: list[list[int]] = ranges or []
        self.latest_at = latest_at

    def add(self, seq: int, at: float) -> bool:
        """Record `seq`; False if it was already there (a duplicate)."""
        r = self.ranges
        if r and seq < r[-1][1] and at > self.latest_at:
            r.clear()  # the device's counter restarted
        self.latest_at = max(self.latest_at, at)
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

    def dump(self) -> dict[str, object]:
        return {"ranges": self.ranges, "latest_at": self.latest_at if self.ranges else None}

    @classmethod
    def load(cls, raw: dict[str, object]) -> SeqRanges:
        ranges = raw["ranges"]
        latest = raw["latest_at"]
        assert isinstance(ranges, list)
        return cls([list(x) for x in ranges], float(latest) if isinstance(latest, int | float) else float("-inf"))
