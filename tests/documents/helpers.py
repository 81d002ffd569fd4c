"""Documents with many items in a currency, for the PDF and email tests."""

from __future__ import annotations

import io
import re
from decimal import Decimal

from pypdf import PdfReader

from billing.factories import AccountFactory, ChargeFactory, InvoiceFactory, currency
from billing.models import Invoice, InvoiceItem, InvoiceStatus
from billing.money import format_money, round_money
from memos.factories import MemoFactory
from memos.models import Memo, MemoItem, MemoStatus, MemoType

# Item i's amount excl. tax is BASE + i * STEP: every item's figure is different, in the
# thousands (so the grouping comma shows) and with the currency's decimals.
BASE = {"USD": Decimal("1000.25"), "JPY": Decimal("12000"), "KWD": Decimal("1000.125")}
STEP = {"USD": Decimal("1.01"), "JPY": Decimal("13"), "KWD": Decimal("1.001")}


def account_in(code: str, **kwargs):
    kwargs.setdefault("name", f"Customer {code} Ltd")
    kwargs.setdefault("bill_to_email", f"ap-{code.lower()}@example.com")
    kwargs.setdefault("bill_to_address", "1 Harbour Street\nPort Town 4001")
    return AccountFactory(currency=currency(code), **kwargs)


def item_rows(code: str, count: int) -> list[dict]:
    rows = []
    for i in range(count):
        net = round_money(BASE[code] + i * STEP[code], code)
        tax = round_money(net * Decimal("0.1"), code)
        rows.append(
            {
                "charge_name": f"Service {i + 1:03d}",
                "description": f"Line {i + 1} of {count}",
                "sort_order": i,
                "quantity": Decimal("1"),
                "unit_price": net,
                "amount_excl_tax": net,
                "tax_amount": tax,
                "amount": net + tax,
            }
        )
    return rows


def totals(rows) -> tuple[Decimal, Decimal]:
    return sum(r["amount_excl_tax"] for r in rows), sum(r["tax_amount"] for r in rows)


def make_document(kind: str, code: str, count: int, *, status: str = "posted", account=None):
    """A posted (or draft) invoice, credit memo or debit memo of `count` items in `code`."""
    account = account or account_in(code)
    rows = item_rows(code, count)
    net, tax = totals(rows)
    charge = ChargeFactory()
    if kind == "invoice":
        invoice = InvoiceFactory(
            account=account,
            status=InvoiceStatus(status),
            amount_excl_tax=net,
            tax_amount=tax,
        )
        InvoiceItem.objects.bulk_create(
            InvoiceItem(invoice=invoice, charge=charge, balance=r["amount"], **r) for r in rows
        )
        return Invoice.objects.get(pk=invoice.pk)
    memo = MemoFactory(
        account=account,
        memo_type=MemoType.CREDIT if kind == "credit_memo" else MemoType.DEBIT,
        status=MemoStatus(status),
        amount_excl_tax=net,
        tax_amount=tax,
    )
    MemoItem.objects.bulk_create(MemoItem(memo=memo, charge=charge, **r) for r in rows)
    return Memo.objects.get(pk=memo.pk)


def pdf_pages(pdf: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


def tokens(text: str) -> set[str]:
    return set(re.split(r"\s+", text))


def money(amount, code: str) -> str:
    return format_money(amount, code)
