"""Topic names of contract v1: `hall/{hall_id}/{device_type}/{device_id}/{channel}`."""

from __future__ import annotations

import itertools

import pytest

from devices.errors import PayloadError
from devices.topics import Channel, DeviceType, Topic, build_topic, hall_filter, parse_topic


@pytest.mark.parametrize(("device", "channel"), list(itertools.product(DeviceType, Channel)))
def test_build_and_parse_round_trip(device: DeviceType, channel: Channel) -> None:
    topic = build_topic("HZ-XH-01", device, "dev.01_a", channel)
    assert topic == f"hall/HZ-XH-01/{device.value}/dev.01_a/{channel.value}"
    assert parse_topic(topic) == Topic("HZ-XH-01", device, "dev.01_a", channel)
    assert str(parse_topic(topic)) == topic


def test_build_accepts_plain_strings() -> None:
    assert build_topic("H1", "window", "W01", "cmd/ack") == "hall/H1/window/W01/cmd/ack"


def test_the_command_ack_channel_has_two_levels() -> None:
    parsed = parse_topic("hall/H1/kiosk/K01/cmd/ack")
    assert parsed.channel is Channel.CMD_ACK
    assert parsed.device_id == "K01"


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("halls/H1/window/W01/evt", "bad_topic"),  # wrong root
        ("cloud/H1/window/W01/evt", "bad_topic"),
        ("hall/H1/window/evt", "bad_topic"),  # too few levels
        ("hall/H1/window", "bad_topic"),
        ("hall/H1/window/W01/evt/extra", "bad_topic"),  # too many levels
        ("hall/H1/window/W01/cmd/nack", "bad_topic"),  # cmd/<not ack>
        ("hall/H1/window/W01/evt/ack", "bad_topic"),  # ack under another channel
        ("hall/H1/window/W01/cmd/ack/x", "bad_topic"),
        ("hall/H1/window/W01/event", "bad_topic"),  # unknown channel
        ("hall/H1/window/W01/ack", "bad_topic"),
        ("hall/H1/window/W01/", "bad_topic"),  # empty channel
        ("hall//window/W01/evt", "bad_topic"),  # empty hall
        ("hall/H1/window//evt", "bad_topic"),  # empty device id
        ("hall/H 1/window/W01/evt", "bad_topic"),  # not an id
        ("hall/H1/window/-W01/evt", "bad_topic"),  # ids start with a letter or digit
        ("hall/H1/window/W01\n/evt", "bad_topic"),  # a trailing newline is not part of an id
        ("hall/H1/printer/P01/evt", "unknown_device_type"),
        ("hall/H1/Window/W01/evt", "unknown_device_type"),  # case matters
        ("", "bad_topic"),
    ],
)
def test_bad_topics_are_rejected_with_a_reason(topic: str, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_topic(topic)
    assert caught.value.reason == reason
    assert caught.value.detail


@pytest.mark.parametrize(
    ("hall", "device_id"),
    [
        ("H/1", "W01"),
        ("H1", "W+"),
        ("H1", "W#"),
        ("", "W01"),
        ("H1", ""),
        ("H1", "x" * 65),
        ("大厅", "W01"),
        ("H1\n", "W01"),
    ],
)
def test_build_refuses_ids_that_would_break_the_topic(hall: str, device_id: str) -> None:
    with pytest.raises(ValueError, match="not a valid id"):
        build_topic(hall, DeviceType.WINDOW, device_id, Channel.EVT)


def test_build_refuses_unknown_device_types_and_channels() -> None:
    with pytest.raises(ValueError):
        build_topic("H1", "printer", "P01", Channel.EVT)
    with pytest.raises(ValueError):
        build_topic("H1", DeviceType.WINDOW, "W01", "event")


def test_hall_filters() -> None:
    assert hall_filter("H1") == "hall/H1/#"
    assert hall_filter(None) == "hall/+/#"
