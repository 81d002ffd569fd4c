"""A small, realistic set of documents made through the services (not factories), for the tests
that drive the real views: every page and form has something to show (open invoices with
items, a posted credit memo with credit left and an application, a draft, a canceled memo, a
debit memo), and there are foreign documents (another account, another currency) for inputs
that point at what a page does not offer.

`url_objects(world, name)` is what tests/test_url_permissions.py's KWARGS reads for a URL: the
posted credit memo by default, a memo in the state the endpoint acts on where that matters.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from billing import roles
from billing.factories import (
    AccountFactory,
    BillRunFactory,
    ChargeFactory,
    UserFactory,
    currency,
)
from billing.models import ChargeModel, ChargeType
from billing.services import InvoiceLine, create_invoice
from memos.models import MemoType, ReasonCode, ReasonCodeType
from memos.services import ChargeLine, InvoiceItemLine, create_memo_from_charges
from memos.services import create_memo_from_invoice as from_invoice
from memos.services.lifecycle import cancel_memo, post_memo
from memos.services.settlement import ApplicationTarget, apply_credit_memo

INVOICE_DATE = dt.date(2026, 11, 1)
D = Decimal

# Endpoints that act on a memo in another state than the default posted credit memo.
MEMO_FOR_URL = {
    "memos:memo_post": "draft",
    "memos:memo_cancel": "draft",
    "memos:memo_recalculate_tax": "draft",
    "memos:memo_edit": "draft",
    "memos:memo_delete": "canceled",
}


def charges_memo(account, memo_type, amount, *, actor, post=True, cancel=False):
    memo = create_memo_from_charges(
        account=account,
        memo_type=memo_type,
        lines=[ChargeLine(charge=ChargeFactory(charge_type=ChargeType.ONE_TIME), amount=D(amount))],
        actor=actor,
        memo_date=INVOICE_DATE,
    )
    if cancel:
        return cancel_memo(memo=memo, actor=actor)
    return post_memo(memo=memo, actor=actor) if post else memo


def invoice(account, *prices: str):
    charge = ChargeFactory(charge_type=ChargeType.ONE_TIME)
    return create_invoice(
        account=account,
        invoice_date=INVOICE_DATE,
        lines=[InvoiceLine(charge=charge, quantity=D(1), unit_price=D(p)) for p in prices],
        post=True,
    )


def build_world() -> dict:
    actor = UserFactory(username="world-admin", roles=[roles.BILLING_ADMIN])
    account = AccountFactory(currency=currency("USD"))
    other = AccountFactory(currency=currency("USD"))
    yen = AccountFactory(currency=currency("JPY"))
    inv = invoice(account, "100.00", "50.00")
    invoice(account, "80.00")  # a second open invoice to apply to
    credit = charges_memo(account, MemoType.CREDIT, "100.00", actor=actor)
    [application] = apply_credit_memo(
        credit_memo=credit,
        targets=[ApplicationTarget(invoice=inv, amount=D("10.00"))],
        effective_date=INVOICE_DATE,
        actor=actor,
    )
    first_item = inv.items.order_by("sort_order").first()
    draft = from_invoice(
        invoice=inv,
        memo_type=MemoType.CREDIT,
        lines=[InvoiceItemLine(invoice_item=first_item, amount=D("5.00"))],
        actor=actor,
        memo_date=INVOICE_DATE,
    )
    debit = charges_memo(account, MemoType.DEBIT, "30.00", actor=actor)
    canceled = charges_memo(account, MemoType.CREDIT, "7.00", actor=actor, cancel=True)
    # Foreign documents: another account in the same currency, and one in yen.
    other_invoice = invoice(other, "60.00", "40.00")
    other_credit = charges_memo(other, MemoType.CREDIT, "20.00", actor=actor)
    [other_application] = apply_credit_memo(
        credit_memo=other_credit,
        targets=[ApplicationTarget(invoice=other_invoice, amount=D("5.00"))],
        effective_date=INVOICE_DATE,
        actor=actor,
    )
    yen_invoice = invoice(yen, "1000")
    yen_credit = charges_memo(yen, MemoType.CREDIT, "500", actor=actor)
    # Choices a form does not offer: a discount and an inactive charge, a refund reason code on
    # a memo form, a deactivated reason code.
    discount = ChargeFactory(charge_model=ChargeModel.DISCOUNT, charge_type=ChargeType.ONE_TIME)
    inactive = ChargeFactory(charge_type=ChargeType.ONE_TIME, active=False)
    retired = ReasonCode.objects.create(
        code_type=ReasonCodeType.CREDIT_MEMO, name="Retired reason", active=False
    )
    from tests.test_url_permissions import payment_objects

    return {
        **payment_objects(account),
        "actor": actor,
        "account": account,
        "invoice": inv,
        "memo": credit,
        "application": application,
        "bill_run": BillRunFactory(),
        "draft": draft,
        "debit": debit,
        "canceled": canceled,
        "other_account": other,
        "other_invoice": other_invoice,
        "other_memo": other_credit,
        "other_application": other_application,
        "yen_account": yen,
        "yen_invoice": yen_invoice,
        "yen_memo": yen_credit,
        "discount_charge": discount,
        "inactive_charge": inactive,
        "retired_reason": retired,
    }


def url_objects(world: dict, name: str) -> dict:
    """The objects KWARGS fills `name`'s path from."""
    memo = world[MEMO_FOR_URL.get(name, "memo")]
    return {**world, "memo": memo}
