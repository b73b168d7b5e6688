"""Real local receivers for the alert channels: an HTTP webhook server and an SMTP server."""

from __future__ import annotations

import json
import threading
from collections import Counter
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.services.conftest import free_port


class WebhookReceiver:
    """Counts delivered webhook calls by Idempotency-Key. ``fail_first``: answer 503 to that
    many calls; ``drop_at``: hold the Nth call until ``release`` and drop it unanswered (a
    receiver that died mid-request: not delivered); ``hang``: while true, hold every call until
    ``release`` and drop it unanswered (a webhook that never answers)."""

    def __init__(self, fail_first: int = 0, drop_at: int | None = None, hang: bool = False) -> None:
        self.delivered: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.calls = 0
        self.fail_first, self.drop_at, self.hang = fail_first, drop_at, hang
        self.holding, self.release = threading.Event(), threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.calls += 1
                    n = receiver.calls
                if receiver.hang or (receiver.drop_at is not None and n == receiver.drop_at):
                    receiver.holding.set()
                    receiver.release.wait(60)
                    self.close_connection = True
                    return
                if n <= receiver.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")
                with receiver.lock:
                    receiver.delivered[self.headers.get("Idempotency-Key", "")] += 1
                    receiver.bodies.append(json.loads(body))

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """aiosmtpd, a real SMTP server: the messages it accepted."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                receiver.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()
