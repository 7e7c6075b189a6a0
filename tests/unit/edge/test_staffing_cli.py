"""`hallops staffing`: the flags, the JSON it prints and the exit code of bad input (the maths is tested in
tests/unit/rules/test_staffing.py)."""

from __future__ import annotations

import argparse
import json

import pytest

from edge.cli import staffing as staffing_cli


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hallops staffing")
    staffing_cli.add_arguments(parser)
    return staffing_cli.run(parser.parse_args(argv))


def test_cli_prints_the_recommendation(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--arrivals-per-hour", "200", "--aht-min", "3", "--target-wait-min", "0.33", "--service-level", "0.8"]
    assert _cli([*argv, "--servers", "9"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "erlang_c" and out["recommended_servers"] == 14 and out["load_erlang"] == 10.0
    assert out["recommended"] == {
        "servers": 14,
        "stable": True,
        "p_wait": pytest.approx(0.174132, abs=1e-6),
        "service_level": pytest.approx(0.887853, abs=1e-6),
        "mean_wait_min": pytest.approx(0.130599, abs=1e-6),
        "mean_queue_length": pytest.approx(0.43533, abs=1e-6),
        "occupancy": pytest.approx(0.714286, abs=1e-6),
    }
    assert out["current"]["stable"] is False and out["current"]["mean_wait_min"] is None
    assert out["current_meets_target"] is False

    assert _cli([*argv, "--patience-min", "10"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "erlang_a" and out["inputs"]["patience_min"] == 10.0 and out["current"] is None
    assert set(out["recommended"]) == {
        "servers",
        "p_wait",
        "p_abandon",
        "service_level",
        "mean_wait_min",
        "mean_queue_length",
        "occupancy",
    }
    assert 0 < out["recommended"]["p_abandon"] < out["recommended"]["p_wait"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--service-level", "80", "service_level must be a fraction"),
        ("--aht-min", "0", "aht_min must be a finite number > 0"),
        ("--arrivals-per-hour", "-3", "arrivals_per_hour must be"),
        ("--patience-min", "-1", "patience_min must be"),
        ("--servers", "0", "current_servers must be ≥ 1"),
    ],
)
def test_cli_rejects_bad_input(flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = {"--arrivals-per-hour": "30", "--aht-min": "12", "--target-wait-min": "15", "--service-level": "0.8"}
    argv[flag] = value
    assert _cli([item for pair in argv.items() for item in pair]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err


def test_cli_rejects_a_non_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _cli(["--arrivals-per-hour", "many", "--aht-min", "3", "--target-wait-min", "1", "--service-level", "0.8"])
    assert exc.value.code == 2
    assert "--arrivals-per-hour" in capsys.readouterr().err
