"""Generated reference documents must match the code they describe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# (scripts/contract_tables.py is checked by tests/unit/devices/test_contract.py)
@pytest.mark.parametrize("script", ["scripts/config_reference.py", "scripts/rules_reference.py"])
def test_generated_docs_are_current(script: str) -> None:
    result = subprocess.run([sys.executable, script, "--check"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_example_config_is_valid() -> None:
    from edge.config import load_config  # noqa: PLC0415

    cfg = load_config(ROOT / "deploy" / "gateway.example.yaml")
    assert cfg.hall.id == "county-01" and len(cfg.vendor_mappings) == 2
