"""Connector to the payment gateway (DOMAIN.md 6), built like the tax engine's (billing.tax_engine).

The gateway is an HTTP service at ``settings.PAYMENT_GATEWAY_URL`` with a timeout of
``settings.PAYMENT_GATEWAY_TIMEOUT`` seconds and HTTP Basic credentials from the environment
(``PAYMENT_GATEWAY_USERNAME`` / ``PAYMENT_GATEWAY_PASSWORD``; never the database). This module is
the only code that talks to it. ``PAYMENT_GATEWAY_URL=simulated`` (the default, which ``make run``
uses) is a built-in gateway in this process that behaves like the test stand-in
(tests/payment_gateway_server.py) for tokens: the demo works with no external service.

Protocol
--------
``POST {url}/charges`` with JSON::

    {"idempotency_key": "PR-00000001:INV00000042", "amount": "120.00", "currency": "USD",
     "token": "tok_visa_4242", "account_number": "A00000001", "document_number": "INV00000042"}

answers ``200 {"status": "approved", "reference": "ch_..."}`` or
``200 {"status": "declined", "reason": "Insufficient funds"}``. The gateway charges at most once
per idempotency key: the same key again answers the first outcome and charges nothing.

``GET {url}/charges/{idempotency_key}`` answers the outcome of the charge made with that key
(same shape), or ``404`` when there is none: how the outcome of a charge whose answer never came
is learnt (reconciliation) before anything is charged again.

Any other answer is an error (``{"error": "<reason>"}`` or a plain body).

Outcomes (``ChargeOutcome.status``): ``approved``, ``declined`` (with the reason), ``failed``
(nothing was charged: refused, unreachable, or timed out and the gateway has no charge with the
key), ``unknown`` (timed out, and asking by the key failed too: nothing may be charged again
until the gateway answers for that key).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from http.client import HTTPException
from typing import Any

from django.conf import settings

from billing.money import quantum

logger = logging.getLogger(__name__)

SIMULATED = "simulated"
APPROVED, DECLINED, FAILED, UNKNOWN = "approved", "declined", "failed", "unknown"
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class ChargeOutcome:
    status: str
    reference: str = ""
    reason: str = ""

    @property
    def charged(self) -> bool:
        return self.status == APPROVED


class _NoAnswer(Exception):
    """The request was sent and no answer came in time (or the connection dropped)."""


class _Refused(Exception):
    """The gateway was not reached, or answered an error: nothing was done."""


def idempotency_key(run_number: str, document_number: str) -> str:
    """The key of a run's charge of one document: unique per (payment run, document)."""
    return f"{run_number}:{document_number}"


def decline_reason_of(token: str) -> str | None:
    """The stand-in's and the simulated gateway's rule: a token "tok_decline_<words>" is
    declined with reason "<Words>" (e.g. tok_decline_insufficient_funds)."""
    prefix = "tok_decline"
    if not token.startswith(prefix):
        return None
    words = token[len(prefix) :].strip("_").replace("_", " ").strip()
    return (words or "card declined").capitalize()


def charge(
    *,
    key: str,
    amount: Decimal,
    currency: str,
    token: str,
    account_number: str,
    document_number: str,
    reconcile_first: bool = False,
) -> ChargeOutcome:
    """Charge `amount` to `token` under `key`. `reconcile_first`: a previous attempt with this
    key may have reached the gateway (a chunk taken over after its worker died, a retry of an
    unknown outcome): ask by the key first and charge only if the gateway has no such charge."""
    if reconcile_first:
        known = charge_outcome_of(key)
        if known is not None:
            return known
    payload = {
        "idempotency_key": key,
        # A decimal string in the currency's minor unit, never a JSON number.
        "amount": str(amount.quantize(quantum(currency))),
        "currency": currency,
        "token": token,
        "account_number": account_number,
        "document_number": document_number,
    }
    if _url() == SIMULATED:
        return _simulated(key, token)
    try:
        return _outcome(_request("POST", "charges", payload))
    except _Refused as exc:
        return ChargeOutcome(FAILED, reason=str(exc))
    except _NoAnswer as exc:
        logger.warning("No answer from the payment gateway for %s (%s); asking by key", key, exc)
        known = charge_outcome_of(key)
        if known is not None:
            return known
        return ChargeOutcome(
            FAILED,
            reason=f"The payment gateway did not answer in time ({exc}); it has no charge "
            "with this key, so nothing was charged.",
        )


def lookup(key: str) -> ChargeOutcome | None:
    """The outcome of the charge made with `key`, or None if the gateway has none; raises
    _NoAnswer / _Refused."""
    if _url() == SIMULATED:
        return None
    try:
        return _outcome(_request("GET", f"charges/{urllib.parse.quote(key, safe='')}", None))
    except _Refused as exc:
        if getattr(exc, "status", None) == 404:
            return None
        raise


def charge_outcome_of(key: str) -> ChargeOutcome | None:
    """What the gateway says of the charge made with `key`: its outcome, None if it has none,
    or an unknown outcome if it cannot be asked."""
    try:
        return lookup(key)
    except (_NoAnswer, _Refused) as exc:
        return ChargeOutcome(
            UNKNOWN,
            reason=f"The outcome of the charge is unknown: the payment gateway did not answer "
            f"({exc}). Nothing is charged again until it answers for this charge.",
        )


def _outcome(answer: Any) -> ChargeOutcome:
    if not isinstance(answer, dict) or answer.get("status") not in (APPROVED, DECLINED):
        raise _Refused("the payment gateway's answer is not a charge outcome")
    if answer["status"] == APPROVED:
        return ChargeOutcome(APPROVED, reference=str(answer.get("reference") or ""))
    return ChargeOutcome(DECLINED, reason=str(answer.get("reason") or "Declined"))


def _simulated(key: str, token: str) -> ChargeOutcome:
    reason = decline_reason_of(token)
    if reason is not None:
        return ChargeOutcome(DECLINED, reason=reason)
    return ChargeOutcome(APPROVED, reference="SIM-" + hashlib.sha1(key.encode()).hexdigest()[:12])


def _url() -> str:
    return (getattr(settings, "PAYMENT_GATEWAY_URL", "") or SIMULATED).strip()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _request(method: str, path: str, payload: dict | None) -> Any:
    base = _url()
    parts = urllib.parse.urlsplit(base)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise _Refused(f"the payment gateway URL {base!r} is not an http:// or https:// address")
    timeout = float(getattr(settings, "PAYMENT_GATEWAY_TIMEOUT", 10) or 10)
    request = urllib.request.Request(
        f"{base.rstrip('/')}/{path}",
        data=None if payload is None else json.dumps(payload).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    username = getattr(settings, "PAYMENT_GATEWAY_USERNAME", "") or ""
    if username:
        password = getattr(settings, "PAYMENT_GATEWAY_PASSWORD", "") or ""
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        request.add_header("Authorization", f"Basic {token}")
    try:
        with _opener.open(request, timeout=timeout) as response:
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        with exc:
            text = exc.read(MAX_RESPONSE_BYTES).decode("utf-8", errors="replace").strip()
        reason = text
        try:
            data = json.loads(text)
            if isinstance(data, dict) and isinstance(data.get("error"), str):
                reason = data["error"]
        except ValueError:
            pass
        text = f"{reason or f'HTTP {exc.code}'}"[:500]
        if exc.code >= 500 and method == "POST":
            # A server error may come after the charge was made: the outcome is asked by key.
            raise _NoAnswer(f"the payment gateway failed: {text}") from exc
        error = _Refused(f"the payment gateway refused: {text}")
        error.status = exc.code
        raise error from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _NoAnswer(f"no connection within {timeout:g} s") from exc
        raise _Refused(f"the payment gateway could not be reached: {exc.reason}") from exc
    except (OSError, HTTPException) as exc:
        raise _NoAnswer(
            f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else str(exc)
        ) from exc
    if len(body) > MAX_RESPONSE_BYTES:
        raise _Refused("the payment gateway's answer is too large")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Refused("the payment gateway's answer is not JSON") from exc
