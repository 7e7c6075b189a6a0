"""The contract's reason table, as a test: each example of docs/contract.md ("One example of each") is refused with
exactly its reason and path, by the step it names — and every reason the codec lists, and the table lists, has one.

What runs an example is what the gateway runs on a message (`Gateway._take`): a vendor's topic through its mapping,
then `decode` with the hall's id and size limit, `check_time` against the receive time, `HallState.admit` against a
hall made from the configuration the document gives. A last test sends every example through a real `Gateway` and
reads its dead letters, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

import devices.codec
from devices.codec import check_time, decode
from devices.errors import PayloadError
from devices.mapping import match, translate
from devices.topics import ROOT
from edge.config import GatewayConfig, load_config
from edge.gateway import Gateway
from rules.clock import FixedClock
from rules.hall import HallState

REPO = Path(__file__).resolve().parents[3]
DOC = (REPO / "docs" / "contract.md").read_text(encoding="utf-8")
SECTION = DOC.split("## What the gateway does with bad input", 1)[1].split("\n## ", 1)[0]
RECEIVED = datetime.fromisoformat(re.findall(r"receives every message at `([^`]+)`", SECTION)[0])
STEPS = ("decode", "check_time", "admit")  # the gateway's steps an example may name; else a test file that checks it


@dataclass(frozen=True, slots=True)
class Example:
    reason: str
    topic: str
    payload: bytes
    path: str
    checked_by: str

    def __str__(self) -> str:
        return f"{self.reason} {self.topic} {self.payload[:60]!r}"


def _cell(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "`" else text


def _rows(table: str) -> list[list[str]]:
    """The body rows of the first markdown table in `table`, as cells without their backticks."""
    lines = table.strip().splitlines()
    assert lines[0].startswith("|") and set(lines[1]) <= set("|-"), f"not a table: {lines[:2]}"
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([_cell(c) for c in line.strip().strip("|").split("|")])  # (no example's JSON holds a `|`)
    return rows


def _payload(cell: str) -> bytes:
    """`(empty)` is no bytes; `⟨x×N⟩` is N copies of x."""
    if cell == "(empty)":
        return b""
    return re.sub(r"⟨(.+?)×(\d+)⟩", lambda m: m.group(1) * int(m.group(2)), cell).encode()


def _examples() -> list[Example]:
    table = SECTION.split("<!-- reason-examples:table -->", 1)[1]
    return [Example(r, t, _payload(p), path, by) for r, t, p, path, by in _rows(table)]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The document's configuration of the examples' gateway, as a file the gateway loads."""
    block = SECTION.split("<!-- reason-examples:config -->", 1)[1]
    path = tmp_path_factory.mktemp("reasons") / "gateway.yaml"
    path.write_text(block.split("```yaml\n", 1)[1].split("```", 1)[0], encoding="utf-8")
    return path


def _listed_reasons() -> list[str]:
    """The reason codes of the table "What the gateway does with bad input"."""
    header = "| reason | meaning |"
    return [row[0] for row in _rows(header + SECTION.split(header, 1)[1])]


def _codec_reasons() -> set[str]:
    """The codes devices/codec.py's docstring lists (its bullets under "Reason codes"); names of the codec's own
    functions (`decode`, `check_time`) and dotted module paths are not codes."""
    doc = devices.codec.__doc__ or ""
    bullets = doc.split("Reason codes", 1)[1].split("\n\n", 2)[1]
    tokens = re.findall(r"`([a-z]+(?:_[a-z]+)*)`", bullets)
    return {t for t in tokens if not hasattr(devices.codec, t)}


EXAMPLES = _examples()
RUN_HERE = [e for e in EXAMPLES if e.checked_by in STEPS]


def _refusal(example: Example, cfg: GatewayConfig) -> tuple[str, PayloadError] | None:
    """The step that refuses `example`, and how — as `Gateway._take` takes a message."""
    hall = cfg.hall.id
    assert hall is not None
    topic, payload = example.topic, example.payload
    try:
        if not topic.startswith(f"{ROOT}/"):
            mapping = match(cfg.vendor_mappings, topic)
            assert mapping is not None, f"no vendor mapping for {topic}"
            topic, payload = translate(mapping, topic, payload, hall)
        msg = decode(topic, payload, RECEIVED, hall=hall, max_bytes=cfg.ingest.max_payload_bytes)
    except PayloadError as exc:
        return "decode", exc
    assert msg is not None, "a command is no device input"
    try:
        check_time(msg.at, msg.received_at, cfg.ingest.plausible_past_s, cfg.ingest.plausible_future_s)
    except PayloadError as exc:
        return "check_time", exc
    try:
        HallState(cfg.profile()).admit(msg)
    except PayloadError as exc:
        return "admit", exc
    return None


@pytest.mark.parametrize("example", RUN_HERE, ids=str)
def test_each_example_is_refused_with_its_reason_and_path_by_its_step(example: Example, config_file: Path) -> None:
    refused = _refusal(example, load_config(config_file))
    assert refused is not None, "accepted"
    step, exc = refused
    assert (exc.reason, exc.path, step) == (example.reason, example.path, example.checked_by), exc.detail
    assert exc.detail


def test_every_listed_reason_has_an_example_and_every_example_a_listed_reason() -> None:
    listed = _listed_reasons()
    assert len(listed) == len(set(listed)), "a reason listed twice"
    assert set(listed) == {e.reason for e in EXAMPLES}


def test_the_codec_lists_the_reasons_the_document_lists() -> None:
    """devices/codec.py keeps every code in one place; each has its example (the test above) and its table row."""
    assert _codec_reasons() == set(_listed_reasons())


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.checked_by not in STEPS], ids=str)
def test_a_reason_given_outside_those_steps_names_the_test_that_checks_it(example: Example) -> None:
    test = REPO / example.checked_by
    is_test = example.checked_by.startswith("tests/") and test.name.startswith("test_") and test.suffix == ".py"
    assert is_test and test.is_file(), f"{example.checked_by} is not a test file"
    assert f'"{example.reason}"' in test.read_text(encoding="utf-8"), f"{test} never asserts {example.reason}"


def test_the_gateway_refuses_the_examples_alike(config_file: Path, tmp_path: Path) -> None:
    """Every example through a real gateway's `handle`, one after another (a refused message changes nothing, so
    none depends on another): its dead letters are the table's reasons and paths, in order."""
    cfg = load_config(config_file, {"storage": {"path": str(tmp_path / "gateway.db")}})
    gw = Gateway(cfg, clock=FixedClock(RECEIVED))
    gw.open()
    try:
        for example in RUN_HERE:
            gw.handle(example.topic, example.payload, RECEIVED)
        gw.flush()
        assert gw.store is not None
        letters = reversed(gw.store.dead_letters.newest(len(RUN_HERE) + 1))
        assert [(d.topic, d.reason, d.path) for d in letters] == [(e.topic, e.reason, e.path) for e in RUN_HERE]
        assert gw.counters.accepted == 0
    finally:
        gw.close()
