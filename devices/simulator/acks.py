"""How a simulated device answers the gateway's commands (`…/cmd` → `…/cmd/ack`), as the contract asks a real one to.

A device carries out a command once per `cmd_id` and answers every delivery of it with the same acknowledgement: a
re-sent copy (the gateway did not hear the first answer) gets the answer again and is not carried out twice. The
answer is `ok: true` for a command of a type the device takes (devices.contract.COMMANDS_BY_DEVICE) that it can read,
`ok: false` with `error: "unsupported"` for a type it does not take, and `"invalid"` for one it cannot read.
A message without a `cmd_id` cannot be answered and is ignored.

Owns `Acknowledger`. Pure: no I/O, time passed in; the publisher subscribes, publishes and decides which devices
answer at all (`--no-ack`).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import datetime

from pydantic import ValidationError

from devices.contract import COMMANDS_BY_DEVICE, command_adapter
from devices.topics import DeviceType

ANSWERS_KEPT = 256  # per device: the cmd_ids it remembers answering (a re-send comes within minutes)


class Acknowledger:
    """One device's answers to the commands delivered to it."""

    def __init__(self, device_type: DeviceType) -> None:
        self.device_type = device_type
        self._takes = {str(m.model_fields["type"].default) for m in COMMANDS_BY_DEVICE[device_type]}
        self._answers: OrderedDict[str, bytes] = OrderedDict()  # cmd_id → the acknowledgement sent, oldest first

    def answer(self, payload: bytes, now: datetime) -> bytes | None:
        """The acknowledgement of a delivered command (None: no `cmd_id` to answer)."""
        try:
            body = json.loads(payload)
        except ValueError:
            return None
        cmd_id = body.get("cmd_id") if isinstance(body, dict) else None
        if not isinstance(cmd_id, str) or not cmd_id:
            return None
        if cmd_id in self._answers:
            return self._answers[cmd_id]
        ack: dict[str, object] = {"v": 1, "ts": now.isoformat(), "cmd_id": cmd_id, "ok": True}
        if body.get("type") not in self._takes:
            ack |= {"ok": False, "error": "unsupported"}
        elif not self._readable(payload):
            ack |= {"ok": False, "error": "invalid"}
        answer = self._answers[cmd_id] = json.dumps(ack, ensure_ascii=False).encode()
        while len(self._answers) > ANSWERS_KEPT:
            self._answers.popitem(last=False)
        return answer

    def _readable(self, payload: bytes) -> bool:
        adapter = command_adapter(self.device_type)
        assert adapter is not None, "a device that takes a command type has its model"
        try:
            adapter.validate_json(payload)
        except ValidationError:
            return False
        return True


__all__ = ["ANSWERS_KEPT", "Acknowledger"]
