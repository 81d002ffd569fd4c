"""Documents in a known state for payment tests: posted invoices, credit and debit memos with
items whose amounts add up, and payment methods."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from billing.factories import AccountFactory, ChargeFactory, InvoiceFactory, InvoiceItemFactory
from billing.models import Charge, InvoiceStatus
from memos.factories import MemoFactory, MemoItemFactory
from memos.models import MemoStatus, MemoType
from payments.models import PaymentMethod, PaymentMethodType

D = Decimal
DAY = dt.date(2026, 11, 1)
TARGET = dt.date(2026, 12, 31)


def charge() -> Charge:
    return Charge.objects.order_by("pk").first() or ChargeFactory(name="Service")


def account(*, auto_pay: bool = True, token: str | None = "tok_visa_4242", **kwargs):
    acct = AccountFactory(auto_pay=auto_pay, **kwargs)
    if token:
        PaymentMethod.objects.create(
            account=acct,
            method_type=PaymentMethodType.CREDIT_CARD,
            label="Visa ending 4242",
            gateway_token=token,
            is_default=True,
        )
    return acct


def invoice(acct, amounts=("60.00", "40.00"), *, due: dt.date = DAY, status=InvoiceStatus.POSTED):
    amounts = [D(a) for a in amounts]
    total = sum(amounts, D(0))
    inv = InvoiceFactory(
        account=acct,
        invoice_date=due - dt.timedelta(days=30),
        due_date=due,
        status=status,
        amount_excl_tax=total,
        tax_amount=D(0),
        amount=total,
        balance=total if status == InvoiceStatus.POSTED else D(0),
    )
    for amount in amounts:
        InvoiceItemFactory(
            invoice=inv,
            charge=charge(),
            unit_price=amount,
            amount_excl_tax=amount,
            tax_amount=D(0),
            amount=amount,
            balance=amount if status == InvoiceStatus.POSTED else D(0),
        )
    return inv


def memo(acct, memo_type, amounts, *, memo_date: dt.date = DAY, **kwargs):
    amounts = [D(a) for a in amounts]
    total = sum(amounts, D(0))
    debit = memo_type == MemoType.DEBIT
    doc = MemoFactory(
        account=acct,
        memo_type=memo_type,
        status=MemoStatus.POSTED,
        memo_date=memo_date,
        amount_excl_tax=total,
        tax_amount=D(0),
        amount=total,
        balance=total if debit else D(0),
        **kwargs,
    )
    for amount in amounts:
        MemoItemFactory(
            memo=doc,
            charge=charge(),
            amount_excl_tax=amount,
            tax_amount=D(0),
            amount=amount,
            balance=amount if debit else D(0),
        )
    return doc


def credit_memo(acct, amounts=("30.00",), **kwargs):
    return memo(acct, MemoType.CREDIT, amounts, **kwargs)


def debit_memo(acct, amounts=("25.00",), **kwargs):
    return memo(acct, MemoType.DEBIT, amounts, **kwargs)
