"""What an operator's browser sends for each memo operation: URL and form fields, as the pages'
forms name them (tests/reliability/test_fuzz.py checks those forms render with these names).
Used by the tests that drive the real views under concurrency and database faults."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.urls import reverse

from memos.models import Memo, MemoApplication, ReasonCode, ReasonCodeType


def default_reason(code_type: str) -> str:
    return str(ReasonCode.objects.get(code_type=code_type, is_default=True).pk)


def create_from_charges(
    account, memo_type: str, amount: Decimal, charge, memo_date: dt.date
) -> tuple[str, dict]:
    key = uuid.uuid4().hex[:8]
    code_type = ReasonCodeType.CREDIT_MEMO if memo_type == "credit" else ReasonCodeType.DEBIT_MEMO
    return (
        reverse("memos:memo_create") + f"?type={memo_type}",
        {
            "type": memo_type,
            "account": account.number,
            "memo_date": memo_date.isoformat(),
            "reason_code": default_reason(code_type),
            "tax_auto_calculation": "on",
            "idempotency_key": uuid.uuid4().hex,
            "line": key,
            f"line-{key}-charge": str(charge.pk),
            f"line-{key}-unit_price": str(amount),
        },
    )


def create_from_invoice(
    invoice, amounts: dict[int, Decimal], memo_date: dt.date
) -> tuple[str, dict]:
    """A credit memo from `invoice`, the items `amounts` names selected at those net amounts."""
    data = {
        "type": "credit",
        "memo_date": memo_date.isoformat(),
        "reason_code": default_reason(ReasonCodeType.CREDIT_MEMO),
        "tax_auto_calculation": "on",
        "idempotency_key": uuid.uuid4().hex,
    }
    for item_id, amount in amounts.items():
        data[f"item-{item_id}-selected"] = "on"
        data[f"item-{item_id}-amount"] = str(amount)
    return reverse("memos:memo_create_from_invoice", args=[invoice.number]) + "?type=credit", data


def action(memo: Memo, name: str) -> tuple[str, dict]:
    """post, unpost, cancel, reverse, write_off, recalculate_tax: a button, no fields."""
    return reverse(f"memos:memo_{name}", args=[memo.number]), {}


def apply(memo: Memo, document, amount: Decimal, day: dt.date) -> tuple[str, dict]:
    kind = "debit" if isinstance(document, Memo) else "invoice"
    return (
        reverse("memos:memo_apply", args=[memo.number]),
        {"effective_date": day.isoformat(), f"{kind}-{document.pk}-amount": str(amount)},
    )


def unapply(application: MemoApplication, amount: Decimal | None, day: dt.date):
    return (
        reverse("memos:memo_unapply", args=[application.credit_memo.number, application.pk]),
        {"amount": "" if amount is None else str(amount), "effective_date": day.isoformat()},
    )


def refund(memo: Memo, amount: Decimal, day: dt.date) -> tuple[str, dict]:
    return (
        reverse("memos:memo_refund", args=[memo.number]),
        {
            "amount": str(amount),
            "method": "check",
            "refund_date": day.isoformat(),
            "reason_code": default_reason(ReasonCodeType.REFUND),
            "comment": "",
        },
    )


def transfer(memo: Memo, value: str) -> tuple[str, dict]:
    return reverse("memos:memo_transfer", args=[memo.number]), {"transferred_to_accounting": value}


def bulk_transfer(numbers: list[str], value: str) -> tuple[str, dict]:
    return reverse("memos:memo_bulk_transfer"), {
        "number": numbers,
        "transferred_to_accounting": value,
    }


def edit(memo: Memo, comments: str) -> tuple[str, dict]:
    return (
        reverse("memos:memo_edit", args=[memo.number]),
        {
            "memo_date": memo.memo_date.isoformat(),
            "reason_code": str(memo.reason_code_id),
            "comments": comments,
        },
    )


def messages_of(response) -> list[tuple[str, str]]:
    """(level tag, text) of the messages this request queued for the next page (not those of
    earlier redirects nobody followed, still waiting in the session)."""
    storage = response.wsgi_request._messages
    return [(m.level_tag, str(m)) for m in storage._queued_messages]
