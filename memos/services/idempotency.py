"""Idempotency keys of the create services (DESIGN.md: same user, same key, same input -> the
first result; the same key with other input, or from another user, is refused).

A key is stored on the memo it made with the user who used it (`created_by`) and a digest of
the parsed input (`idempotency_digest`): the memo type, the invoice or account, the header
fields and the lines, each written canonically (100 and 100.00 are one amount).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

from django.core.exceptions import ValidationError

from billing.models import Account, Invoice
from memos.models import IDEMPOTENCY_KEY_LENGTH, Memo, MemoSource

IDEMPOTENCY_CONFLICT = "idempotency_conflict"


def checked_key(idempotency_key: str | None) -> str | None:
    """The key, or None without one; a key wider than its column is refused here rather than
    by the database (a DataError on PostgreSQL)."""
    if not idempotency_key:
        return None
    if len(idempotency_key) > IDEMPOTENCY_KEY_LENGTH:
        raise ValidationError(
            {
                "idempotency_key": (
                    f"The form's submission key is longer than {IDEMPOTENCY_KEY_LENGTH} characters."
                )
            }
        )
    return idempotency_key


def _canonical(value):
    """A value of the submitted input as the digest sees it: equal inputs, equal values
    (100 and 100.00 are one amount; a model instance is its primary key)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal | int):
        if isinstance(value, Decimal) and not value.is_finite():
            return str(value)
        return "0" if value == 0 else format(Decimal(value).normalize(), "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "_meta"):
        return value.pk
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return str(value)


def content_digest(content: dict) -> str:
    """SHA-256 of the parsed input a memo is created from: what an idempotency key is bound
    to, so that a key used again with other input is told apart from a double submit."""
    text = json.dumps(_canonical(content), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def actor_id(actor) -> int | None:
    return actor.pk if getattr(actor, "is_authenticated", False) else None


def check_same_submit(memo: Memo, *, actor_id: int | None, digest: str) -> None:
    """A key already used: refused unless the same user submitted the same input."""
    if memo.created_by_id != actor_id:
        # Another user's memo: not even its number is shown.
        message = (
            "This form was already used by another user, so nothing was created. "
            "Reload this page to start a new memo."
        )
    elif memo.idempotency_digest != digest:
        kind = memo.get_memo_type_display().lower()
        message = (
            f"This form was already used to create {kind} {memo.number} from other input, so "
            f"nothing was created. Open {memo.number}, or reload this page to start a new memo."
        )
    else:
        return
    raise ValidationError({"__all__": [ValidationError(message, code=IDEMPOTENCY_CONFLICT)]})


def is_conflict(error: ValidationError) -> bool:
    """Whether `error` is check_same_submit's refusal (a key already used otherwise)."""
    errors = getattr(error, "error_dict", {}).get("__all__", [])
    return any(e.code == IDEMPOTENCY_CONFLICT for e in errors)


def invoice_content(invoice: Invoice, memo_type: str, lines, header: dict) -> dict:
    return {
        "source": MemoSource.INVOICE,
        "memo_type": memo_type,
        "invoice": invoice,
        **header,
        "lines": [
            [
                line.invoice_item,
                line.amount,
                line.tax_mode,
                line.tax_amount,
                line.description,
            ]
            for line in lines
        ],
    }


def charges_content(account: Account, memo_type: str, lines, header: dict) -> dict:
    return {
        "source": MemoSource.CHARGES,
        "memo_type": memo_type,
        "account": account,
        **header,
        "lines": [
            [
                line.charge,
                line.amount,
                line.quantity,
                line.service_start,
                line.service_end,
                line.description,
                line.tax_mode,
                line.tax_amount,
                # Only lines priced by unit price carry it: digests of amount lines stay as
                # they were.
                *([line.unit_price] if getattr(line, "unit_price", None) is not None else []),
            ]
            for line in lines
        ],
    }
