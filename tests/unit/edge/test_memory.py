"""The memory a burst freed goes back to the box (edge/memory.py): without it, glibc keeps the freed pages of its heap
and the gateway stays as large as its largest backlog made it (issue 22's soak: RSS up 13 % in a week, in steps at
its faults). Run in a fresh interpreter, so that nothing else in the test run shapes the heap."""

from __future__ import annotations

import json
import subprocess
import sys

BURST = """
import gc, json
from edge.memory import give_back, resident_bytes
burst = [bytes(4000) + i.to_bytes(4, "little") for i in range(20000)]  # 80 MB of 4 kB messages, on the C heap
kept = burst[::10]  # a tenth stays, spread over the heap: glibc cannot shrink it from the top
grown = resident_bytes()
del burst
gc.collect()
freed = resident_bytes()
gave = give_back()
print(json.dumps({"grown": grown, "freed": freed, "gave": gave, "after": resident_bytes()}))
"""


def test_a_burst_freed_is_given_back_to_the_system() -> None:
    out = subprocess.run([sys.executable, "-c", BURST], capture_output=True, text=True, timeout=60, check=True)
    m = json.loads(out.stdout)
    mb = {k: (v or 0) / 1e6 for k, v in m.items()}
    assert mb["freed"] > mb["grown"] - 10, f"glibc returned the burst by itself: the give-back is not needed ({mb})"
    assert m["gave"] is not None, "not glibc: nothing was asked"
    assert mb["after"] < mb["freed"] - 50, f"the freed 72 MB stayed resident: {mb}"
    assert abs(mb["gave"] - (mb["freed"] - mb["after"])) < 5, f"give_back() misreports what it gave: {mb}"
