"""Forms with many rows (DOMAIN.md 2.2: at most 1,000 items per memo): every legitimate grid is
accepted by Django's request parsing (DATA_UPLOAD_MAX_NUMBER_FIELDS), submit and live preview
alike, and the 1,000-item cap is still enforced with its own message.

The data is written in bulk: the factories would take most of the run."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from billing.factories import ChargeFactory
from billing.models import Invoice, InvoiceItem, InvoiceStatus, NumberSeries
from billing.numbering import next_number
from memos.models import Memo, MemoApplication, ReasonCode
from tests.memos.creation_helpers import INVOICE_DATE, MEMO_DATE, D, account
from tests.memos.test_settlement import ON, credit_on

pytestmark = pytest.mark.django_db

CAP_MESSAGE = "A memo can have at most 1,000 items; this one has 1,001."


def bulk_invoice(acct, items: int, *, net: str = "1.00", tax: str = "0.10") -> Invoice:
    """A posted invoice of `items` items of net + tax each (STD code), written in bulk."""
    charge = ChargeFactory(charge_type="one_time")
    net_, tax_ = D(net), D(tax)
    invoice = Invoice.objects.create(
        number=next_number(NumberSeries.Key.INVOICE),
        account=acct,
        currency=acct.currency,
        invoice_date=INVOICE_DATE,
        due_date=INVOICE_DATE + dt.timedelta(days=30),
        status=InvoiceStatus.POSTED,
        amount_excl_tax=net_ * items,
        tax_amount=tax_ * items,
        amount=(net_ + tax_) * items,
        balance=(net_ + tax_) * items,
        posted_at=timezone.now(),
    )
    InvoiceItem.objects.bulk_create(
        InvoiceItem(
            invoice=invoice,
            sort_order=index,
            charge=charge,
            charge_name=f"Seat {index}",
            unit_price=net_,
            amount_excl_tax=net_,
            tax_code=charge.tax_code if tax_ else None,
            tax_amount=tax_,
            amount=net_ + tax_,
            balance=net_ + tax_,
        )
        for index in range(1, items + 1)
    )
    return invoice


def field_count(data: dict) -> int:
    return sum(len(v) if isinstance(v, list) else 1 for v in data.values())


def default_reason(code_type: str) -> int:
    return ReasonCode.objects.get(code_type=code_type, is_default=True).pk


def header(code_type: str, **extra) -> dict:
    """The header fields as the browser posts them (unchecked boxes are not sent)."""
    return {
        "csrfmiddlewaretoken": "x",  # counted like the browser's; the test client needs none
        "type": "credit",
        "memo_date": MEMO_DATE.isoformat(),
        "reason_code": default_reason(code_type),
        "comments": "",
        "tax_auto_calculation": "on",
        "idempotency_key": "wide-form",
        "action": "draft",
        **extra,
    }


def invoice_form(invoice: Invoice) -> dict:
    """Every row selected at 1.00, with its empty tax and description fields: 4 fields a row."""
    data = header("credit_memo")
    for item in invoice.items.all():
        prefix = f"item-{item.pk}"
        data[f"{prefix}-selected"] = "on"
        data[f"{prefix}-amount"] = "1.00"
        data[f"{prefix}-tax_amount"] = ""
        data[f"{prefix}-description"] = ""
    return data


def from_invoice_url(invoice: Invoice) -> str:
    return reverse("memos:memo_create_from_invoice", args=[invoice.number]) + "?type=credit"


def test_a_1000_item_invoice_is_credited_through_the_page(operator_client):
    invoice = bulk_invoice(account(), 1000)
    url = from_invoice_url(invoice)
    page = operator_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('data-testid="available">1.00') == 1000
    assert html.count('data-testid="available-tax">0.10') == 1000
    data = invoice_form(invoice)
    assert field_count(data) == 4008
    preview = operator_client.post(url, {**data, "preview": "1"}, headers={"HX-Request": "true"})
    assert preview.status_code == 200
    assert 'data-testid="total-amount">USD 1,100.00' in preview.content.decode()
    response = operator_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:500]
    memo = Memo.objects.get()
    assert response.url == memo.get_absolute_url()
    assert memo.items.count() == 1000
    assert memo.amount == D("1100.00")


def test_a_1001_item_memo_is_refused_with_the_cap(operator_client):
    invoice = bulk_invoice(account(), 1001)
    response = operator_client.post(from_invoice_url(invoice), invoice_form(invoice))
    assert response.status_code == 200
    assert CAP_MESSAGE in response.content.decode()
    assert Memo.objects.count() == 0


def charges_form(acct, charge, lines: int) -> dict:
    """`lines` charge lines as the page posts them: 9 fields a line (10 with Tax-Included)."""
    data = header("debit_memo", type="debit", account=acct.number, auto_pay="on")
    keys = [f"l{index}" for index in range(lines)]
    data["line"] = keys
    for key in keys:
        for name, value in {
            "charge": charge.pk,
            "unit_price": "2.00",
            "prefilled": "",
            "quantity": "",
            "service_start": "",
            "service_end": "",
            "tax_amount": "",
            "description": "",
        }.items():
            data[f"line-{key}-{name}"] = value
    return data


def test_a_200_line_charges_memo_is_created_through_the_page(operator_client):
    acct, charge = account(), ChargeFactory(charge_type="one_time")
    url = reverse("memos:memo_create") + "?type=debit"
    data = charges_form(acct, charge, 200)
    assert field_count(data) == 1810
    preview = operator_client.post(url, {**data, "preview": "1"}, headers={"HX-Request": "true"})
    assert preview.status_code == 200
    assert 'data-testid="total-amount">USD 440.00' in preview.content.decode()
    response = operator_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:500]
    memo = Memo.objects.get()
    assert (memo.items.count(), memo.amount) == (200, D("440.00"))


def test_a_1001_line_charges_memo_is_refused_with_the_cap(operator_client):
    """The largest form a memo page legitimately posts: one line over the cap, which must reach
    the service to be refused by name (and not by a 400 from the request parser)."""
    acct, charge = account(), ChargeFactory(charge_type="one_time")
    data = charges_form(acct, charge, 1001)
    # With every Tax-Included box ticked: 10 fields a line.
    for key in data["line"]:
        data[f"line-{key}-tax_included"] = "on"
    assert field_count(data) == 10020
    assert field_count(data) + 1 <= settings.DATA_UPLOAD_MAX_NUMBER_FIELDS  # + "preview"
    response = operator_client.post(reverse("memos:memo_create") + "?type=debit", data)
    assert response.status_code == 200
    assert CAP_MESSAGE in response.content.decode()
    assert Memo.objects.count() == 0


def test_apply_to_500_open_documents(operator_client):
    acct = account()
    credit = credit_on(acct, "600")
    invoices = [bulk_invoice(acct, 1, tax="0") for _ in range(500)]
    url = reverse("memos:memo_apply", args=[credit.number])
    page = operator_client.get(url)
    assert page.status_code == 200
    assert page.content.decode().count('name="invoice-') == 1000  # a header and an item field
    data = {"csrfmiddlewaretoken": "x", "effective_date": ON.isoformat()}
    for invoice in invoices:
        data[f"invoice-{invoice.pk}-amount"] = "1.00"
        data[f"invoice-{invoice.pk}-item-{invoice.items.get().pk}"] = ""
    assert field_count(data) == 1002
    preview = operator_client.post(url, {**data, "preview": "1"}, headers={"HX-Request": "true"})
    assert preview.status_code == 200
    assert 'data-testid="apply-total">USD 500.00' in preview.content.decode()
    response = operator_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:500]
    assert MemoApplication.objects.filter(credit_memo=credit).count() == 500
    credit.refresh_from_db()
    assert credit.unapplied_amount == D("100.00")
    assert not Invoice.objects.filter(pk__in=[i.pk for i in invoices], balance__gt=0).exists()
