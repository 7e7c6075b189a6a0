"""The `devices:` section's scope keys (issue 17): an evaluator's `windows`, a camera's `zones` and `seats`. A key on
the wrong type of device, or a window the hall does not list, stops the gateway with the field path to fix; a valid
binding reaches the hall profile the scope rules read."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import ConfigError
from edge.config import GatewayConfig, load_config

WINDOWS = "windows: {W01: {}, W02: {}}\n"


def load(tmp_path: Path, yaml_text: str) -> GatewayConfig:
    path = tmp_path / "gateway.yaml"
    path.write_text("hall: {id: h1}\n" + yaml_text, encoding="utf-8")
    return load_config(path)


def problems(tmp_path: Path, yaml_text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, yaml_text)
    return {p.path: p.message for p in caught.value.problems}


def test_bindings_reach_the_hall_profile(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        WINDOWS
        + """\
devices:
  EV01: {type: evaluator, windows: [W01]}
  EV02: {type: evaluator}
  CAM-1: {type: camera, zones: [wait-a, counter-a], seats: [W01, W02]}
  CAM-2: {type: camera, zones: [wait-b], seats: []}
""",
    )
    bound = {d.device_id: (d.windows, d.zones, d.seats) for d in cfg.profile().devices}
    assert bound == {
        "EV01": (("W01",), None, None),
        "EV02": (None, None, None),
        "CAM-1": (None, ("wait-a", "counter-a"), ("W01", "W02")),
        "CAM-2": (None, ("wait-b",), ()),
    }


@pytest.mark.parametrize(
    ("devices", "expected"),
    [
        (
            "TM01: {type: ticket_machine, windows: [W01]}",
            {
                "devices.TM01.windows": "only an evaluator (rating pad) is bound to windows "
                "('TM01' is of type ticket_machine)"
            },
        ),
        (
            "EV01: {type: evaluator, zones: [wait-a]}",
            {"devices.EV01.zones": "only a camera is bound to zones ('EV01' is of type evaluator)"},
        ),
        (
            "W01: {type: window, seats: [W01]}",
            {"devices.W01.seats": "only a camera is bound to staff seats ('W01' is of type window)"},
        ),
        ("EV01: {type: evaluator, windows: [W01, W9]}", {"devices.EV01.windows[1]": "unknown window 'W9'"}),
        ("CAM-1: {type: camera, seats: [W7, W01]}", {"devices.CAM-1.seats[0]": "unknown window 'W7'"}),
    ],
)
def test_a_binding_that_cannot_hold_stops_the_start_with_its_path(
    tmp_path: Path, devices: str, expected: dict[str, str]
) -> None:
    assert problems(tmp_path, WINDOWS + f"devices:\n  {devices}\n") == expected


def test_an_evaluator_bound_to_no_window_is_a_mistake(tmp_path: Path) -> None:
    """`windows: []` would refuse every rating the pad sends: leaving the key out lets it bind itself instead."""
    assert list(problems(tmp_path, WINDOWS + "devices:\n  EV01: {type: evaluator, windows: []}\n")) == [
        "devices.EV01.windows"
    ]


def test_without_windows_listed_any_window_id_may_be_bound(tmp_path: Path) -> None:
    """A hall that learns its windows cannot check the ids: the pad's binding is then the check."""
    cfg = load(tmp_path, "devices:\n  EV01: {type: evaluator, windows: [W01]}\n  CAM-1: {type: camera, seats: [W09]}\n")
    assert [d.windows or d.seats for d in cfg.profile().devices] == [("W01",), ("W09",)]
