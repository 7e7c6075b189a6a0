"""An HTTP endpoint on 127.0.0.1 that records what the gateway POSTs to it: a webhook receiver, a group robot, an SMS
gateway. Each POST is answered with the next of `answers`, `usual` once they run out; with `hold` set, the first
POST is answered only once the test sets it (a receiver that does not answer in time).

    with Receiver() as receiver:      # or the `receiver` fixture of tests/unit/edge/conftest.py
        hook = Webhook(url=receiver.url + "/hook")
        …
        (first,) = receiver.received  # Received(path, headers, body)
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self, cast


@dataclass(frozen=True)
class Received:
    path: str  # with the query string
    headers: dict[str, str]  # names in title case (Idempotency-Key, X-Hallops-Signature)
    body: bytes

    def json(self) -> dict[str, object]:
        return cast(dict[str, object], json.loads(self.body))


class Receiver:
    """The endpoint; `url` is its address without a path. An answer is (status, JSON body); a body of None is an
    empty one."""

    def __init__(self, usual: tuple[int, object | None] = (200, {})) -> None:
        self.received: list[Received] = []
        self.answers: list[tuple[int, object | None]] = []
        self.usual = usual
        self.hold: threading.Event | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            receiver.received.append(Received(self.path, {k.title(): v for k, v in self.headers.items()}, body))
            if receiver.hold is not None and len(receiver.received) == 1:
                receiver.hold.wait(10)
            status, answer = receiver.answers.pop(0) if receiver.answers else receiver.usual
            data = b"" if answer is None else json.dumps(answer).encode()
            try:
                self.send_response(status)
                if answer is not None:
                    self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the gateway gave up waiting (a time-out test)

        def log_message(self, *args: object) -> None:
            pass

    return Handler
