"""The broker's queue for an absent gateway fits in the memory its unit gives it: deploy/mosquitto/hallops.conf's
queue bounds against deploy/systemd/hallops-mosquitto.service's MemoryHigh, whatever size the devices' messages are.

A queued message costs mosquitto its payload and about BOOKKEEPING bytes besides (measured with mosquitto 2.0 on the
build box: 200,000 queued 250-byte messages raised its RSS by 608 B each). With both `max_queued_messages` N and
`max_queued_bytes` B set, messages of size s fill min(N, B/s) places; the memory min(N, B/s) x (s + BOOKKEEPING) is
largest at s = B/N: B + N x BOOKKEEPING. Without a bytes bound (0) it is N x (max_packet_size + BOOKKEEPING).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOOKKEEPING = 360
SIZES = {"K": 2**10, "M": 2**20, "G": 2**30}


def _setting(text: str, name: str) -> int:
    found = re.findall(rf"^{name} (\d+)$", text, flags=re.MULTILINE)
    assert len(found) == 1, f"{name}: {found}"
    return int(found[0])


def _unit_memory(name: str) -> int:
    text = (ROOT / "deploy" / "systemd" / "hallops-mosquitto.service").read_text(encoding="utf-8")
    found = re.findall(rf"^{name}=(\d+)([KMG])$", text, flags=re.MULTILINE)
    assert len(found) == 1, f"{name}: {found}"
    return int(found[0][0]) * SIZES[found[0][1]]


def worst_queue_memory(conf: Path) -> int:
    text = conf.read_text(encoding="utf-8")
    messages, payloads = _setting(text, "max_queued_messages"), _setting(text, "max_queued_bytes")
    if payloads == 0:  # no bound: messages of max_packet_size
        return messages * (_setting(text, "max_packet_size") + BOOKKEEPING)
    return payloads + messages * BOOKKEEPING


def test_a_full_queue_fits_under_the_units_memory_high() -> None:
    for conf in (
        ROOT / "deploy" / "mosquitto" / "hallops.conf",
        ROOT / "deploy" / "compose" / "mosquitto" / "hallops.conf",
    ):
        worst = worst_queue_memory(conf)
        assert worst < _unit_memory("MemoryHigh") <= _unit_memory("MemoryMax"), (conf, worst)


def test_an_unbounded_queue_would_not(tmp_path: Path) -> None:
    shipped = (ROOT / "deploy" / "mosquitto" / "hallops.conf").read_text(encoding="utf-8")
    unbounded = tmp_path / "hallops.conf"
    unbounded.write_text(re.sub(r"^max_queued_bytes \d+$", "max_queued_bytes 0", shipped, flags=re.MULTILINE))
    assert worst_queue_memory(unbounded) > _unit_memory("MemoryMax")
