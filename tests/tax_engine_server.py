"""A real local HTTP server standing in for the third-party tax engine (DOMAIN.md 2.6).

It speaks the protocol of `billing.tax_engine` on 127.0.0.1 (a free port) from a daemon thread.
The `tax_engine` fixture starts one per test, points the billing settings at it
(tax_engine="third_party", its URL, a 0.5 s timeout) and shuts it down afterwards.

Modes (set `server.mode`):

- "success": tax is 10% of the net of every line (whatever its tax code), rounded half up to the
  currency's minor unit; exclusive lines add it on top, inclusive lines are split into net + tax.
  /void answers 200.
- "error": 422 {"error": "Address could not be validated"} (`server.error_status` and
  `server.error_message` change it; `server.error_body` replaces the JSON, e.g. a plain text).
- "timeout": sleeps `server.delay` (1.5 s) before answering, longer than the client's timeout,
  and commits nothing (a hung engine). The sleep ends at once when the server shuts down, so no
  handler thread outlives the test.
- "late": /calculate commits the document at once, then answers (as "success") only after
  `server.delay`: the engine did the work, the client gave up waiting. /void answers at once.
- "negative": /calculate answers every line with a negative tax, `server.negative_rate` (-150%)
  of its net, and commits it; /void answers 200.
- "malformed": /calculate answers 200 with `server.malformed_body`: bytes/str sent as they are,
  anything else as JSON, or a callable taking the request's JSON and returning one of those. By
  default a line without "tax_amount". The 200 commits the document, whatever the body says.
  /void answers 200.

`server.requests` lists what it received: {"path", "body" (parsed JSON, floats as Decimal),
"authorization" (the header, or None)}. `server.committed` is the set of document numbers the
engine holds committed: added by a committing /calculate it acted on, removed by a /void it
answered 200; what is left at the end of a test is an orphan.
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from billing.money import round_money

RATE = Decimal(10)
HUNDRED = Decimal(100)


def compute_line(line: dict[str, Any], currency: str, rate: Decimal = RATE) -> dict[str, str]:
    """The fake engine's answer for one line: 10% tax (or `rate`), rounded per line."""
    amount = Decimal(line["amount"])
    if line["mode"] == "inclusive":
        net = round_money(amount * HUNDRED / (HUNDRED + rate), currency)
        tax = amount - net
    else:
        net = amount
        tax = round_money(amount * rate / HUNDRED, currency)
    return {"key": line["key"], "amount_excl_tax": str(net), "tax_amount": str(tax)}


class FakeTaxEngine:
    def __init__(self) -> None:
        self.mode = "success"
        self.delay = 1.5
        self.error_status = 422
        self.error_message = "Address could not be validated"
        self.error_body: Any = None
        self.malformed_body: Any = default_malformed
        self.negative_rate = Decimal(-150)
        self.requests: list[dict[str, Any]] = []
        self.committed: set[str] = set()
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
            name="fake-tax-engine",
            daemon=True,
        )

    def start(self) -> FakeTaxEngine:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes a "timeout" handler that is still sleeping
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def record(self, path: str, body: Any, authorization: str | None) -> None:
        with self._lock:
            self.requests.append({"path": path, "body": body, "authorization": authorization})

    def commit(self, path: str, body: Any) -> None:
        if path == "/calculate" and isinstance(body, dict) and body.get("commit"):
            with self._lock:
                self.committed.add(body["document_number"])

    def answer(self, path: str, body: Any) -> tuple[int, Any]:
        """(status, body) for a request; the body is bytes/str (sent as is) or JSON data."""
        if self.mode == "error":
            if self.error_body is not None:
                return self.error_status, self.error_body
            return self.error_status, {"error": self.error_message}
        if self.mode == "timeout":
            # Nobody is listening any more; a hung engine did nothing.
            return 504, {"error": "Gateway timeout"}
        if self.mode == "malformed" and path == "/calculate":
            self.commit(path, body)
            made = self.malformed_body
            return 200, made(body) if callable(made) else made
        if path == "/calculate":
            rate = self.negative_rate if self.mode == "negative" else RATE
            lines = [compute_line(line, body["currency"], rate) for line in body["lines"]]
            self.commit(path, body)
            return 200, {"lines": lines}
        if path == "/void":
            with self._lock:
                self.committed.discard(body["document_number"])
            return 200, {"document_number": body["document_number"], "status": "voided"}
        return 404, {"error": f"No such endpoint {path}"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"null", parse_float=Decimal)
                except ValueError:
                    self._send(400, {"error": "The request is not JSON"})
                    return
                engine.record(self.path, body, self.headers.get("Authorization"))
                slow = engine.mode == "timeout" or (
                    engine.mode == "late" and self.path == "/calculate"
                )
                if engine.mode == "late":
                    engine.commit(self.path, body)  # done, but the answer comes too late
                if slow and engine._stopping.wait(engine.delay):
                    self.close_connection = True
                    return  # shutting down: the client gave up long ago
                status, answer = engine.answer(self.path, body)
                self._send(status, answer)

            def _send(self, status: int, answer: Any) -> None:
                if isinstance(answer, str):
                    data, kind = answer.encode(), "text/plain; charset=utf-8"
                elif isinstance(answer, bytes):
                    data, kind = answer, "text/plain; charset=utf-8"
                else:
                    data, kind = json.dumps(answer, default=str).encode(), "application/json"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client timed out and hung up

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


def default_malformed(body: Any) -> dict[str, Any]:
    """Every line answered without its "tax_amount"."""
    return {
        "lines": [{"key": line["key"], "amount_excl_tax": line["amount"]} for line in body["lines"]]
    }


@pytest.fixture
def tax_engine(db):
    """A running fake tax engine, with the billing settings pointing at it."""
    from billing.models import BillingSettings, TaxEngine

    server = FakeTaxEngine().start()
    billing = BillingSettings.load()
    billing.tax_engine = TaxEngine.THIRD_PARTY
    billing.tax_engine_url = server.url
    billing.tax_engine_timeout = Decimal("0.5")
    billing.save()
    try:
        yield server
    finally:
        server.stop()
