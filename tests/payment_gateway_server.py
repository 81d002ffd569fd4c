"""A real local HTTP server standing in for the payment gateway (DOMAIN.md 6).

It speaks the protocol of `payments.gateway` on 127.0.0.1 (a free port) from a daemon thread. The
`payment_gateway` fixture starts one per test and points the settings at it (a 0.5 s timeout).

What it does, by the card token charged:

- "tok_decline_<words>": declined, reason "<Words>" (payments.gateway.decline_reason_of).
- "tok_late": charged at once, but the answer comes only after `server.delay` (1.5 s), longer
  than the client waits: the client must learn the outcome by asking by the key.
- "tok_hang": nothing charged, no answer before `server.delay`: a hung gateway.
- anything else: approved, reference "ch_<n>".

A key charged before answers its first outcome again and charges nothing (idempotency).
`server.lookup_fails = True` makes GET /charges/<key> answer 503 (reconciliation fails).

`server.charges` maps each key to its outcome; `server.charge_log` lists every charge actually
made (key, document, amount), in order, so tests count them; `server.requests` every request.
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest

from payments.gateway import decline_reason_of


class FakePaymentGateway:
    def __init__(self) -> None:
        self.delay = 1.5
        self.lookup_fails = False
        self.charges: dict[str, dict[str, Any]] = {}
        self.charge_log: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-payment-gateway",
            daemon=True,
        )

    def start(self) -> FakePaymentGateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def charges_of(self, document_number: str) -> list[dict[str, Any]]:
        return [c for c in self.charge_log if c["document"] == document_number]

    def charge(self, body: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
        """(outcome, slow): the outcome is None for a hung charge (nothing done)."""
        key, token = body["idempotency_key"], body["token"]
        with self._lock:
            if key in self.charges:
                return self.charges[key], False
            if token == "tok_hang":
                return None, True
            reason = decline_reason_of(token)
            if reason is not None:
                outcome = {"status": "declined", "reason": reason}
            else:
                outcome = {"status": "approved", "reference": f"ch_{len(self.charge_log) + 1}"}
                self.charge_log.append(
                    {"key": key, "document": body["document_number"], "amount": body["amount"]}
                )
            self.charges[key] = outcome
            return outcome, token == "tok_late"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"null", parse_float=Decimal)
                except ValueError:
                    self._send(400, {"error": "The request is not JSON"})
                    return
                with gateway._lock:
                    gateway.requests.append(self._request("POST", body))
                if self.path != "/charges":
                    self._send(404, {"error": f"No such endpoint {self.path}"})
                    return
                outcome, slow = gateway.charge(body)
                if slow and gateway._stopping.wait(gateway.delay):
                    self.close_connection = True
                    return
                if outcome is None:
                    self._send(504, {"error": "Gateway timeout"})
                    return
                self._send(200, outcome)

            def do_GET(self) -> None:  # noqa: N802
                with gateway._lock:
                    gateway.requests.append(self._request("GET", None))
                if not self.path.startswith("/charges/"):
                    self._send(404, {"error": "No such endpoint"})
                    return
                if gateway.lookup_fails:
                    self._send(503, {"error": "Lookups are down"})
                    return
                key = unquote(self.path.removeprefix("/charges/"))
                with gateway._lock:
                    outcome = gateway.charges.get(key)
                if outcome is None:
                    self._send(404, {"error": "No charge with this key"})
                else:
                    self._send(200, outcome)

            def _request(self, method: str, body: Any) -> dict[str, Any]:
                auth = self.headers.get("Authorization")
                return {"method": method, "path": self.path, "body": body, "authorization": auth}

            def _send(self, status: int, answer: Any) -> None:
                data = json.dumps(answer, default=str).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


@pytest.fixture
def payment_gateway(settings):
    """A running stand-in gateway, with the settings pointing at it (0.5 s timeout)."""
    server = FakePaymentGateway().start()
    settings.PAYMENT_GATEWAY_URL = server.url
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.5
    try:
        yield server
    finally:
        server.stop()
