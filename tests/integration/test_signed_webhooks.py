"""A signed webhook end to end: the gateway process on a real mosquitto, an alert, and a receiver on 127.0.0.1 that
checks the POST as docs/deploy.md tells it to (the sender's details are in tests/unit/edge/test_webhook_signing.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from edge.broker import MosquittoProcess
from tests.integration.conftest import MONDAY_10, GatewayProcess, Publisher, event, wait_until
from tests.receiver import Receiver
from tests.unit.edge.test_webhook_signing import SECRET, authentic


def test_the_gateway_signs_each_notification_with_the_endpoints_secret(
    mosquitto: MosquittoProcess, publisher: Publisher, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    with Receiver() as receiver:
        secret_file = tmp_path / "hook.secret"
        secret_file.write_bytes(SECRET + b"\n")
        secret_file.chmod(0o600)
        url = f"{receiver.url}/hook"
        config = tmp_path / "gw.yaml"
        config.write_text(f"notify:\n  webhooks:\n    - {{url: '{url}', secret_file: '{secret_file}'}}\n")
        gw = gateway_factory(mosquitto.url, "--config", str(config), "--clock", "device").start()
        publisher.send(*event("kiosk", "K1", 1, MONDAY_10, type="kiosk.help_requested"))
        publisher.wait()
        wait_until(lambda: receiver.received, timeout=30, what="the signed webhook")
        headers, body = receiver.received[0].headers, receiver.received[0].body
        assert json.loads(body)["rule"] == "kiosk-help-requested"
        assert authentic(SECRET, headers, body, now=time.time())
        assert not authentic(b"a secret of some other endpoint", headers, body, now=time.time())
        assert "unsigned" not in gw.output()
