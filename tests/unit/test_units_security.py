"""Every systemd unit the project ships scores an exposure of at most 2.0 in `systemd-analyze security`.

The score is systemd's own (`--offline=true` reads the unit file; no running systemd needed): the lower, the less a
compromised service could do to the box. 2.0 is issue 22's bar for the hall box's gateway, vision and broker, and the
cloud tier's units meet it too. The last test shows the measure moves: the gateway's service before it was hardened
scores far above the bar.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted([*ROOT.glob("deploy/systemd/*.service"), *ROOT.glob("deploy/cloud/*.service")])
BAR = 2.0
OVERALL = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")

# the gateway's unit as it was before issue 22: a few protections, no system-call filter, no capability limits
UNHARDENED = """[Unit]
Description=hallops gateway
[Service]
Type=exec
User=hallops
ExecStart=/opt/hallops/venv/bin/hallops gateway --config /etc/hallops/gateway.yaml
NoNewPrivileges=true
UMask=0077
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
ReadWritePaths=/var/lib/hallops
"""


def exposure(unit: Path) -> float:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: scripts/setup.sh test installs Debian's systemd"
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    found = OVERALL.search(result.stdout + result.stderr)
    assert found is not None, f"no exposure level for {unit.name}: {result.stdout[-500:]} {result.stderr[-500:]}"
    return float(found.group(1))


def test_the_units_are_found() -> None:
    names = {u.name for u in UNITS}
    assert {"hallops-gateway.service", "hallops-vision.service", "hallops-mosquitto.service"} <= names


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_exposure_is_at_most_two(unit: Path) -> None:
    score = exposure(unit)
    assert score <= BAR, f"{unit.relative_to(ROOT)} scores {score} (> {BAR}): systemd-analyze security says why"


def test_an_unhardened_unit_fails_the_bar(tmp_path: Path) -> None:
    unit = tmp_path / "hallops-gateway.service"
    unit.write_text(UNHARDENED)
    assert exposure(unit) > BAR
