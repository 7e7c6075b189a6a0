"""The gateway's own deaf time: the spans of hall time in which it was not listening to the devices.

Owns `BlindSpans` (the spans, merged and bounded) and the arithmetic a device's silence needs from them: how much of
a stretch of time the gateway missed. A heartbeat the gateway could not hear is not a heartbeat the device did not
send, so its silence is counted without these spans (`rules.hall.views` shifts it). Pure bookkeeping of times: it
must not know about messages, devices or the hall, and it decides nothing about when the gateway was deaf — the
gateway says so (`HallState.blind`).
"""

from __future__ import annotations

from bisect import bisect_right

MAX_BLIND_SPANS = 256  # a gateway restarted every few minutes for a day; beyond this the oldest span is forgotten
BLIND_KEEP_S = 86400.0  # a span ending more than a day before the newest one no longer matters to any alert


class BlindSpans:
    """Sorted, disjoint half-open spans `[start, end)` of UNIX seconds (hall time); touching spans are one."""

    __slots__ = ("spans",)

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []

    @property
    def end(self) -> float:
        """When the newest span ends (-inf: none): a silence that began after it is not shifted at all."""
        return self.spans[-1][1] if self.spans else float("-inf")

    def add(self, start: float, end: float) -> bool:
        """Add `[start, end)`, merged with the spans it overlaps or touches; False if it added nothing new."""
        if not end > start:  # also a NaN
            return False
        spans = self.spans
        i = bisect_right(spans, (start, float("inf")))  # spans[:i] start at or before `start`
        if i and spans[i - 1][1] >= start:
            i -= 1
            if spans[i][1] >= end:
                return False  # already known
            start = spans[i][0]
        j = i
        while j < len(spans) and spans[j][0] <= end:
            end = max(end, spans[j][1])
            j += 1
        spans[i:j] = [(start, end)]
        return True

    def forget_before(self, t: float) -> None:
        """Drop the spans no silence that matters can overlap: those that ended at or before `t` (the oldest last
        message of any device), those that ended a day before the newest one ended, the oldest beyond
        `MAX_BLIND_SPANS`."""
        spans = self.spans
        t = max(t, self.end - BLIND_KEEP_S)
        k = 0
        while k < len(spans) and spans[k][1] <= t:
            k += 1
        k = max(k, len(spans) - MAX_BLIND_SPANS)
        if k:
            del spans[:k]

    def missed(self, since: float, now: float) -> float:
        """Seconds of `[since, now)` the gateway was deaf for."""
        total = 0.0
        for start, end in reversed(self.spans):  # the newest first: a silence usually began after all but a few
            if end <= since:
                break
            total += max(0.0, min(end, now) - max(start, since))
        return total

    def dump(self) -> list[list[float]]:
        """As JSON pairs (`add` each back to restore them)."""
        return [[start, end] for start, end in self.spans]
