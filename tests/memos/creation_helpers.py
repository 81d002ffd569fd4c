"""Builders and assertions shared by the memo creation tests (DOMAIN.md 2.2, 2.3, 2.6, 2.7)."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.factories import AccountFactory, ChargeFactory, currency
from billing.models import Account, Invoice, NumberSeries
from billing.services import InvoiceLine, create_invoice
from memos.models import Memo, MemoEvent, MemoItem, MemoType
from memos.services import InvoiceItemLine, create_memo_from_invoice

D = Decimal

# Fixed dates well before "today", so the default memo date (today) is never before them.
INVOICE_DATE = dt.date(2025, 3, 10)
MEMO_DATE = dt.date(2025, 3, 20)


def account(code: str = "USD") -> Account:
    return AccountFactory(currency=currency(code))


def posted_invoice(
    *amounts: str,
    code: str = "USD",
    invoice_date: dt.date = INVOICE_DATE,
    post: bool = True,
    taxable: bool = True,
    on_account: Account | None = None,
) -> Invoice:
    """An invoice made by the billing service: one one-time item per amount, taxed by the STD
    code (10%) unless `taxable` is False. Posted unless `post` is False."""
    acct = on_account or account(code)
    return create_invoice(
        account=acct,
        invoice_date=invoice_date,
        lines=[
            InvoiceLine(
                charge=ChargeFactory(charge_type="one_time", taxable=taxable),
                quantity=D(1),
                unit_price=D(amount),
            )
            for amount in (amounts or ("100",))
        ],
        post=post,
    )


def items_of(invoice: Invoice) -> list:
    return list(invoice.items.order_by("sort_order", "id"))


def row(item, amount, key: str = "", **fields) -> InvoiceItemLine:
    return InvoiceItemLine(invoice_item=item, amount=D(amount), key=key, **fields)


def from_invoice(invoice: Invoice, lines=None, *, actor=None, **kwargs) -> Memo:
    """create_memo_from_invoice with defaults: a credit memo on MEMO_DATE for every item in full
    (the net amount, tax added by the built-in engine)."""
    if lines is None:
        lines = [row(item, item.amount_excl_tax) for item in items_of(invoice)]
    kwargs.setdefault("memo_type", MemoType.CREDIT)
    kwargs.setdefault("memo_date", MEMO_DATE)
    return create_memo_from_invoice(invoice=invoice, lines=lines, actor=actor, **kwargs)


def last_number(key: str) -> int:
    return NumberSeries.objects.get(key=key).last_number


def db_state() -> dict[str, int]:
    """What a refused create must leave as it was."""
    return {
        "memos": Memo.objects.count(),
        "items": MemoItem.objects.count(),
        "events": MemoEvent.objects.count(),
        "credit_memo_numbers": last_number(NumberSeries.Key.CREDIT_MEMO),
        "debit_memo_numbers": last_number(NumberSeries.Key.DEBIT_MEMO),
    }


@contextlib.contextmanager
def refused():
    """`with refused() as info:` expects a ValidationError and checks the database is unchanged
    (no memo, item or event written, no number consumed)."""
    before = db_state()
    with pytest.raises(ValidationError) as info:
        yield info
    assert db_state() == before


def errors_of(info, key: str | None = None) -> list[str]:
    """The messages of a raised ValidationError: for one key of its dict, or all of them."""
    error = info.value
    if key is None:
        return error.messages
    assert hasattr(error, "error_dict"), f"expected errors keyed by field, got {error.messages}"
    assert key in error.message_dict, f"no error for {key!r}: {error.message_dict}"
    return error.message_dict[key]


def one_error(info, key: str | None = None) -> str:
    messages = errors_of(info, key)
    assert len(messages) == 1, messages
    return messages[0]
