"""Connector to the third-party tax engine (DOMAIN.md 2.6).

The engine is an HTTP service at ``BillingSettings.tax_engine_url``; this module is the only code
that talks to it. Every failure (no URL, timeout, connection refused, an error answer, an answer
that does not add up) is raised as ``TaxEngineError`` whose text is the reason shown to operators
as the memo's Tax Message. Mistakes of the caller (duplicate line keys, an unknown tax mode, an
amount that is not a Decimal or has more decimals than the currency allows) are ValueError /
TypeError, raised before any request.

Protocol
--------
All requests are ``POST`` with a JSON body (``Content-Type: application/json``, UTF-8) and, when
``settings.TAX_ENGINE_USERNAME`` is set, HTTP Basic auth with ``TAX_ENGINE_USERNAME`` /
``TAX_ENGINE_PASSWORD`` (credentials only ever come from the environment, never the database).

``POST {tax_engine_url}/calculate``::

    {"document_number": "CM00000001", "document_type": "credit_memo",
     "document_date": "2025-01-31", "currency": "USD", "account_number": "A00000001",
     "commit": true,
     "lines": [{"key": "1", "amount": "100.00", "mode": "exclusive",
                "tax_code": "VAT", "description": "Setup fee"}]}

``amount`` is a decimal string in the document currency (never a JSON number); ``mode`` is
``exclusive`` (the amount is net, tax comes on top) or ``inclusive`` (the amount includes tax and is
split into net + tax); ``tax_code`` may be null. ``commit: true`` records the document in the
engine (it can then be voided); ``commit: false`` is a quote. The answer is ``200``::

    {"lines": [{"key": "1", "amount_excl_tax": "100.00", "tax_amount": "10.00"}]}

with exactly one entry per line sent, in any order. Amounts are decimal strings (JSON numbers are
read as exact decimals too) with no more decimals than the currency allows. For an exclusive line
``amount_excl_tax`` equals the amount sent; for an inclusive line ``amount_excl_tax + tax_amount``
equals it. Other members of the objects are ignored.

``POST {tax_engine_url}/void`` with ``{"document_number": "CM00000001"}`` voids a committed
document; any 2xx answer means done, its body is ignored.

An error is any non-2xx answer, with the reason as JSON ``{"error": "<reason>"}`` or as a plain
body. Redirects are not followed (they are errors too: the credentials stay with the configured
URL).

A 2xx answer to a committing ``/calculate`` means the document is committed, even when its
answer is refused here (malformed, or amounts out of range: a tax of the opposite sign to its
line, more tax than a tax-inclusive amount, NaN, wider than the money columns). An error answer
means nothing was done. No answer in time (or the connection dropped after the request was
sent) leaves it unknown. ``TaxEngineError.may_have_committed`` says which, so the caller can
void the document by its number.

Timeout: ``BillingSettings.tax_engine_timeout`` seconds, for connecting and for each wait for
data; the whole call is also cut off once it has lasted longer than that while reading the body.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from http.client import HTTPException
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError

from billing.models import BillingSettings, TaxMode
from billing.money import (
    MONEY_COLUMN,
    HasMinorUnit,
    check_fits,
    currency_code,
    minor_unit,
    validate_money,
)

logger = logging.getLogger(__name__)

# Answers larger than this are not a tax calculation.
MAX_RESPONSE_BYTES = 1024 * 1024
_READ_CHUNK = 64 * 1024


class TaxEngineError(Exception):
    """The engine failed, refused or timed out; str(exc) is the reason shown to operators as Tax
    Message.

    `answered`: the engine answered 2xx (it did the work) but the answer could not be used.
    `may_have_committed`: the request reached the engine and it may have acted on it (answered,
    or no answer in time); for a committing /calculate the document may then be committed and
    is the caller's to void. False when the engine refused or was never reached.
    """

    def __init__(self, message: str, *, answered: bool = False, may_have_committed: bool = False):
        super().__init__(message)
        self.answered = answered
        self.may_have_committed = may_have_committed or answered


@dataclass(frozen=True)
class EngineLine:
    key: str  # caller's id for the line, echoed back
    amount: Decimal  # typed amount in the document currency
    mode: str  # TaxMode value: "exclusive" (amount is net) or "inclusive" (amount includes tax)
    tax_code: str | None
    description: str = ""


@dataclass(frozen=True)
class EngineResult:
    key: str
    amount_excl_tax: Decimal
    tax_amount: Decimal


def calculate(
    *,
    document_number: str,
    document_type: str,
    document_date: dt.date,
    currency: str | HasMinorUnit,
    account_number: str,
    lines: list[EngineLine],
    commit: bool = True,
    settings: BillingSettings | None = None,
) -> list[EngineResult]:
    """Tax of each line by the engine, in the order of `lines`; raises TaxEngineError."""
    _check_lines(lines)
    try:
        minor_unit(currency)
    except ValueError as exc:
        raise TaxEngineError(f"The currency {currency_code(currency)} is not known.") from exc
    for line in lines:
        try:
            validate_money(line.amount, currency, field=f"Line {line.key!r}: amount")
        except ValidationError as exc:
            raise ValueError(" ".join(exc.messages)) from exc
    payload = {
        "document_number": document_number,
        "document_type": document_type,
        "document_date": document_date.isoformat(),
        "currency": currency_code(currency),
        "account_number": account_number,
        "commit": bool(commit),
        "lines": [
            {
                "key": line.key,
                "amount": _decimal_string(line.amount),
                "mode": str(line.mode),
                "tax_code": line.tax_code,
                "description": line.description,
            }
            for line in lines
        ],
    }
    answer = _post("calculate", payload, settings)
    return _parse_calculation(answer, lines, currency)


def void(*, document_number: str, settings: BillingSettings | None = None) -> None:
    """Void a document committed to the engine; raises TaxEngineError."""
    _post("void", {"document_number": document_number}, settings, expect_body=False)


# --- request -------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises the 3xx as an HTTPError


_opener = urllib.request.build_opener(_NoRedirect)


def _post(
    endpoint: str,
    payload: dict[str, Any],
    billing: BillingSettings | None,
    *,
    expect_body: bool = True,
) -> Any:
    billing = billing if billing is not None else BillingSettings.load()
    base = (billing.tax_engine_url or "").strip()
    if not base:
        raise TaxEngineError("No tax engine URL is configured in the billing settings.")
    parts = urllib.parse.urlsplit(base)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise TaxEngineError(
            f"The tax engine URL {_shown(base)} is not an http:// or https:// address."
        )
    timeout = Decimal(billing.tax_engine_timeout or 0)
    if not timeout > 0:
        raise TaxEngineError("The tax engine timeout in the billing settings must be positive.")

    url = f"{base.rstrip('/')}/{endpoint}"
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "Memodesk",
        },
    )
    username = getattr(django_settings, "TAX_ENGINE_USERNAME", "") or ""
    password = getattr(django_settings, "TAX_ENGINE_PASSWORD", "") or ""
    if username:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        request.add_header("Authorization", f"Basic {token}")

    deadline = time.monotonic() + float(timeout)
    try:
        try:
            with _opener.open(request, timeout=float(timeout)) as response:
                body = _read(response, deadline, endpoint)
        except urllib.error.HTTPError as exc:
            with exc:
                reason = _error_reason(exc, deadline, endpoint)
            raise _fail(f"The tax engine refused the request: {reason}", endpoint) from exc
    except TaxEngineError:
        raise
    except urllib.error.URLError as exc:
        # urllib wraps what fails while connecting and sending: the engine never got it.
        if _is_timeout(exc.reason):
            raise _timed_out(timeout, endpoint, sent=False) from exc
        raise _unreachable(base, exc.reason, endpoint, sent=False) from exc
    except (OSError, HTTPException) as exc:
        # Waiting for or reading the answer: the request was sent, the engine may have acted.
        if _is_timeout(exc):
            raise _timed_out(timeout, endpoint, sent=True) from exc
        raise _unreachable(base, exc, endpoint, sent=True) from exc

    if not expect_body:
        return None
    try:
        return json.loads(
            body.decode("utf-8"), parse_float=Decimal, parse_int=Decimal, parse_constant=_no_nan
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise _malformed("its answer is not JSON", endpoint) from exc


def _read(response, deadline: float, endpoint: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(_READ_CHUNK):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise _malformed("its answer is too large", endpoint)
        if time.monotonic() > deadline:
            raise TimeoutError("the answer took too long")
        chunks.append(chunk)
    return b"".join(chunks)


def _error_reason(exc: urllib.error.HTTPError, deadline: float, endpoint: str) -> str:
    """The engine's reason for an error answer: JSON {"error"}, else the plain body."""
    try:
        body = _read(exc, deadline, endpoint).decode("utf-8", errors="replace").strip()
    except (OSError, HTTPException, TaxEngineError):
        body = ""
    reason = ""
    if body:
        try:
            data = json.loads(body)
        except ValueError:
            reason = body
        else:
            if isinstance(data, dict) and isinstance(data.get("error"), str):
                reason = data["error"].strip()
            elif isinstance(data, str):
                reason = data.strip()
            else:
                reason = body
    status = f"HTTP {exc.code} {exc.reason}".strip()
    if not reason:
        return status
    reason = " ".join(reason.split())
    if len(reason) > 500:
        reason = reason[:500] + "…"
    return reason


def _no_nan(constant: str) -> Any:
    raise ValueError(f"{constant} is not a number")


def _is_timeout(reason: object) -> bool:
    return isinstance(reason, TimeoutError)  # socket.timeout is TimeoutError


def _seconds(timeout: Decimal) -> str:
    value = timeout.normalize()
    text = format(value, "f")
    return f"{text} second" if value == 1 else f"{text} seconds"


def _shown(url: str) -> str:
    """The URL without any user:password@ part, for messages."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _fail(message: str, endpoint: str, **state: bool) -> TaxEngineError:
    logger.warning("Tax engine %s failed: %s", endpoint, message)
    return TaxEngineError(message, **state)


def _timed_out(timeout: Decimal, endpoint: str, *, sent: bool) -> TaxEngineError:
    return _fail(
        f"The tax engine did not answer within {_seconds(timeout)}",
        endpoint,
        may_have_committed=sent,
    )


def _unreachable(base: str, reason: object, endpoint: str, *, sent: bool) -> TaxEngineError:
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return _fail(
        f"The tax engine at {_shown(base)} could not be reached: {text}",
        endpoint,
        may_have_committed=sent,
    )


def _malformed(problem: str, endpoint: str) -> TaxEngineError:
    """A 2xx answer that cannot be used: the engine did the work (committed, for /calculate)."""
    return _fail(
        f"The tax engine gave an invalid answer: {problem.rstrip('.')}.", endpoint, answered=True
    )


# --- lines ---------------------------------------------------------------------------------------


def _check_lines(lines: list[EngineLine]) -> None:
    """Mistakes of the caller, not of the engine: ValueError/TypeError."""
    keys = set()
    modes = set(TaxMode.values)
    for line in lines:
        if line.key in keys:
            raise ValueError(f"Duplicate line key {line.key!r}")
        keys.add(line.key)
        if line.mode not in modes:
            raise ValueError(f"Unknown tax mode {line.mode!r}")
        if not isinstance(line.amount, Decimal):
            raise TypeError(f"Line {line.key!r}: the amount must be a Decimal")
        if not line.amount.is_finite():
            raise ValueError(f"Line {line.key!r}: the amount must be a number")


def _decimal_string(amount: Decimal) -> str:
    return format(amount, "f")  # never an exponent ("1E+2")


def _parse_calculation(
    answer: Any, lines: list[EngineLine], currency: str | HasMinorUnit
) -> list[EngineResult]:
    def bad(problem: str) -> TaxEngineError:
        return _malformed(problem, "calculate")

    if not isinstance(answer, dict) or not isinstance(answer.get("lines"), list):
        raise bad('"lines" is missing')
    sent = {line.key: line for line in lines}
    results: dict[str, EngineResult] = {}
    for item in answer["lines"]:
        if not isinstance(item, dict):
            raise bad("a line is not an object")
        key = item.get("key")
        if not isinstance(key, str):
            raise bad('a line has no "key"')
        if key not in sent:
            raise bad(f"line {key!r} was not in the request")
        if key in results:
            raise bad(f"line {key!r} is answered twice")
        net = _amount(item, "amount_excl_tax", key, currency)
        tax = _amount(item, "tax_amount", key, currency)
        line = sent[key]
        problem = _out_of_range(line, net, tax)
        if problem:
            raise bad(f"line {key!r}: {problem}")
        if line.mode == TaxMode.INCLUSIVE and net + tax != line.amount:
            raise bad(
                f"line {key!r}: net {net} + tax {tax} is not the tax-inclusive amount "
                f"{_decimal_string(line.amount)}"
            )
        if line.mode == TaxMode.EXCLUSIVE and net != line.amount:
            raise bad(
                f"line {key!r}: net {net} is not the tax-exclusive amount "
                f"{_decimal_string(line.amount)}"
            )
        try:
            # Each figure fits a money column; the line's amount with tax must fit one too.
            check_fits(
                net + tax,
                MONEY_COLUMN,
                places=minor_unit(currency),
                field=f"net {net:,f} + tax {tax:,f} =",
            )
        except ValidationError as exc:
            raise bad(f"line {key!r}: {' '.join(exc.messages)}") from exc
        results[key] = EngineResult(key=key, amount_excl_tax=net, tax_amount=tax)
    missing = [line.key for line in lines if line.key not in results]
    if missing:
        raise bad("no answer for line " + ", ".join(repr(key) for key in missing))
    return [results[line.key] for line in lines]


def _out_of_range(line: EngineLine, net: Decimal, tax: Decimal) -> str:
    """Why a line's answer cannot be stored as its memo line, or "": the tax goes the way of
    the amount (a credit line's tax is never a debit), an inclusive amount holds its tax, and
    the size of net + tax is checked against the money column by the caller."""
    amount = _decimal_string(line.amount)
    if tax < 0 and line.amount >= 0:
        return f"tax {tax} is negative on the amount {amount}"
    if tax > 0 and line.amount < 0:
        return f"tax {tax} is positive on the negative amount {amount}"
    if line.mode == TaxMode.INCLUSIVE and abs(tax) > abs(line.amount):
        return f"tax {tax} is more than the tax-inclusive amount {amount}"
    return ""


def _amount(item: dict, field: str, key: str, currency: str | HasMinorUnit) -> Decimal:
    if field not in item:
        raise _malformed(f'line {key!r} has no "{field}"', "calculate")
    raw = item[field]
    if isinstance(raw, bool) or not isinstance(raw, str | Decimal):
        raise _malformed(f'line {key!r}: "{field}" is not a decimal amount', "calculate")
    try:
        value = Decimal(raw.strip()) if isinstance(raw, str) else raw
    except InvalidOperation as exc:
        raise _malformed(f'line {key!r}: "{field}" {raw!r} is not a number', "calculate") from exc
    if not value.is_finite():
        shown = raw if isinstance(raw, str) else str(raw)
        raise _malformed(f'line {key!r}: "{field}" {shown!r} is not a number', "calculate")
    try:
        return validate_money(value, currency, field=f'"{field}"')
    except ValidationError as exc:
        raise _malformed(f"line {key!r}: {' '.join(exc.messages)}", "calculate") from exc
