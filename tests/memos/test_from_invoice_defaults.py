"""The from-invoice page opens without an error on real invoice shapes (issue 10, fixes 1-3):
rows with nothing left, negative invoice lines, the tax cap per item, the currency's places,
and "Save and post"."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from billing.factories import ChargeFactory, TaxCodeFactory, TaxRateFactory, UserFactory
from billing.services import InvoiceLine, create_invoice
from memos.models import Memo, MemoItem, MemoStatus
from memos.services.creation import recalculate_tax
from memos.services.lifecycle import post_memo
from memos.services.settlement import ApplicationTarget, apply_credit_memo
from tests.memos.creation_helpers import (
    INVOICE_DATE,
    MEMO_DATE,
    account,
    from_invoice,
    items_of,
    posted_invoice,
    refused,
    row,
)

pytestmark = pytest.mark.django_db
D = Decimal


def invoice_with_loyalty_credit():
    """The demo's shape: a 100.00 subscription and a -10.00 loyalty credit, both taxed at 10%."""
    return create_invoice(
        account=account(),
        invoice_date=INVOICE_DATE,
        lines=[
            InvoiceLine(charge=ChargeFactory(name="Platform"), quantity=D(1), unit_price=D(100)),
            InvoiceLine(
                charge=ChargeFactory(name="Loyalty Credit"), quantity=D(1), unit_price=D(-10)
            ),
        ],
        post=True,
    )


def invoice_taxed_at(rate: str, amount: str = "100"):
    code = TaxCodeFactory()
    TaxRateFactory(tax_code=code, rate=D(rate), effective_from=dt.date(2020, 1, 1))
    return create_invoice(
        account=account(),
        invoice_date=INVOICE_DATE,
        lines=[
            InvoiceLine(
                charge=ChargeFactory(name="Platform", tax_code=code),
                quantity=D(1),
                unit_price=D(amount),
            )
        ],
        post=True,
    )


def page_url(invoice, memo_type="credit"):
    return reverse("memos:memo_create_from_invoice", args=[invoice.number]) + f"?type={memo_type}"


def shown_errors(html: str) -> list[str]:
    """Every error the page shows: page alerts, row errors, the totals' errors, invalid fields."""
    found = re.findall(r'data-testid="page-errors"', html)
    found += [
        m for m in re.findall(r'id="row-[^"]+-errors"[^>]*>(.*?)</div></td>', html, re.S) if m
    ]
    found += re.findall(r'class="text-danger text-end small" role="alert">([^<]+)<', html)
    found += re.findall(r"is-invalid", html)
    return found


def row_html(html: str, item) -> str:
    return html.split(f'data-row="item-{item.pk}"', 1)[1].split("</tr>", 1)[0]


def post_data(html: str) -> dict[str, str]:
    """What the browser sends for the page as it opened: every enabled, checked or typed field."""
    data = {}
    for tag in re.findall(r"<(?:input|select|textarea)[^>]*>", html):
        if " disabled" in tag:
            continue
        name = re.search(r'name="([^"]+)"', tag)
        if name is None:
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if kind and kind.group(1) == "checkbox":
            if " checked" in tag:
                data[name.group(1)] = "on"
            continue
        data[name.group(1)] = value.group(1) if value else ""
    reason = re.search(r'<select name="reason_code".*?<option value="(\d+)" selected', html, re.S)
    if reason:
        data["reason_code"] = reason.group(1)
    return data


# --- Fix 1: rows with nothing left, negative lines ----------------------------------------------


def test_rows_with_nothing_left_open_unselected_and_disabled_without_errors(operator_client):
    invoice = posted_invoice("100", "50")
    first, second = items_of(invoice)
    post_memo(memo=from_invoice(invoice, [row(first, "100")]), actor=None)

    html = operator_client.get(page_url(invoice)).content.decode()

    assert shown_errors(html) == []
    done = row_html(html, first)
    assert "Nothing left to credit" in done
    assert "disabled" in done and "checked" not in done
    left = row_html(html, second)
    assert 'value="50.00"' in left and "checked" in left
    assert 'data-testid="total-amount">USD 55.00' in html


def test_a_negative_line_is_mirrored_so_the_default_credits_what_is_available(operator_client):
    invoice = invoice_with_loyalty_credit()
    platform, loyalty = items_of(invoice)

    html = operator_client.get(page_url(invoice)).content.decode()

    assert shown_errors(html) == []
    assert 'value="-10.00"' in row_html(html, loyalty)
    assert "checked" in row_html(html, loyalty)
    # 110.00 - 11.00: exactly what is available on the whole invoice.
    assert f'data-testid="total-amount">USD {invoice.amount:,.2f}' in html
    assert invoice.amount == D("99.00")

    response = operator_client.post(page_url(invoice), {**post_data(html), "idempotency_key": "k"})
    assert response.status_code == 302, shown_errors(response.content.decode())
    memo = Memo.objects.get(invoice=invoice)
    assert memo.amount == D("99.00")
    assert sorted(memo.items.values_list("amount", flat=True)) == [D("-11.00"), D("110.00")]


def test_a_mirrored_credit_posts_applies_and_leaves_nothing_to_credit(operator_client):
    invoice = invoice_with_loyalty_credit()
    platform, loyalty = items_of(invoice)
    memo = from_invoice(invoice, [row(platform, "100"), row(loyalty, "-10")])
    post_memo(memo=memo, actor=None)
    apply_credit_memo(
        credit_memo=memo,
        targets=[ApplicationTarget(invoice=invoice, amount=D("99.00"))],
        effective_date=MEMO_DATE,
        actor=None,
    )
    memo.refresh_from_db()
    invoice.refresh_from_db()
    assert (memo.unapplied_amount, invoice.balance) == (D(0), D(0))

    html = operator_client.get(page_url(invoice)).content.decode()
    assert shown_errors(html) == []
    assert html.count("Nothing left to credit") == 2


def test_a_negative_line_cannot_be_credited_positive_nor_past_the_item():
    invoice = invoice_with_loyalty_credit()
    platform, loyalty = items_of(invoice)
    with refused() as info:
        from_invoice(invoice, [row(platform, "50"), row(loyalty, "10", key="l")])
    assert "negative" in " ".join(info.value.message_dict["l"])
    with refused() as info:
        from_invoice(invoice, [row(platform, "50"), row(loyalty, "-20", key="l")])
    assert info.value.message_dict["l"] == [
        "This invoice item is negative: its credit line is between -11.00 and 0.00."
    ]


def test_a_credit_of_only_the_negative_line_is_refused_as_not_more_than_zero():
    invoice = invoice_with_loyalty_credit()
    _, loyalty = items_of(invoice)
    with refused():
        from_invoice(invoice, [row(loyalty, "-10")])
    assert not Memo.objects.exists()


def test_a_debit_memo_mirrors_negative_lines_too(operator_client):
    invoice = invoice_with_loyalty_credit()
    _, loyalty = items_of(invoice)
    html = operator_client.get(page_url(invoice, "debit")).content.decode()
    assert shown_errors(html) == []
    assert 'value="-10.00"' in row_html(html, loyalty)
    assert 'data-testid="total-amount">USD 99.00' in html


# --- Fix 2: the tax per item is capped -----------------------------------------------------------


def test_a_tax_only_credit_over_the_tax_left_is_refused_beside_its_row():
    invoice = invoice_taxed_at("5.85")
    (item,) = items_of(invoice)
    assert item.tax_amount == D("5.85")
    for amount in ("0", "10.00"):
        with refused() as info:
            from_invoice(
                invoice,
                [row(item, amount, key="p", tax_amount=D("5.86"))],
                tax_auto_calculation=False,
            )
        assert info.value.message_dict["p"] == [
            "At most 5.85 of tax available to credit on this item."
        ]
    assert not MemoItem.objects.exists()
    memo = from_invoice(invoice, [row(item, "0", tax_amount=D("5.85"))], tax_auto_calculation=False)
    assert memo.amount == D("5.85")


def test_the_tax_cap_counts_posted_credits(operator_client):
    invoice = invoice_taxed_at("5.85")
    (item,) = items_of(invoice)
    post_memo(
        memo=from_invoice(invoice, [row(item, "0", tax_amount=D("5"))], tax_auto_calculation=False),
        actor=None,
    )
    with refused() as info:
        from_invoice(
            invoice, [row(item, "0", key="p", tax_amount=D("0.86"))], tax_auto_calculation=False
        )
    assert info.value.message_dict["p"] == ["At most 0.85 of tax available to credit on this item."]
    # The page shows it: net 100.00 and tax 0.85 left, and its default takes exactly that.
    html = operator_client.get(page_url(invoice)).content.decode()
    assert 'data-testid="available">100.00' in html
    assert 'data-testid="available-tax">0.85' in html
    assert shown_errors(html) == []


def test_the_whole_rest_of_an_item_takes_the_rest_of_its_tax(operator_client):
    """5.85% of 50.00 is 2.925, rounded up: two halves would credit 5.86 of a 5.85 tax."""
    invoice = invoice_taxed_at("5.85")
    (item,) = items_of(invoice)
    first = from_invoice(invoice, [row(item, "50")])
    assert first.tax_amount == D("2.93")
    post_memo(memo=first, actor=None)

    html = operator_client.get(page_url(invoice)).content.decode()
    assert shown_errors(html) == []
    assert 'value="50.00"' in html
    assert 'data-testid="total-tax">USD 2.92' in html

    second = from_invoice(invoice, [row(item, "50")])
    assert (second.amount_excl_tax, second.tax_amount) == (D("50.00"), D("2.92"))
    post_memo(memo=second, actor=None)
    # Less than the rest is taxed as usual.
    assert "Nothing left to credit" in operator_client.get(page_url(invoice)).content.decode()


def test_recalculating_the_tax_keeps_the_rest_of_an_items_tax():
    """Recalculate tax on a draft for the whole rest of an item gives what the create gave
    (2.92, the rest of the tax), not 5.85% of 50.00 again (2.93), which posting would refuse."""
    invoice = invoice_taxed_at("5.85")
    (item,) = items_of(invoice)
    post_memo(memo=from_invoice(invoice, [row(item, "50")]), actor=None)
    second = from_invoice(invoice, [row(item, "50")])
    assert second.tax_amount == D("2.92")

    second = recalculate_tax(memo=second, actor=None)
    assert (second.amount_excl_tax, second.tax_amount) == (D("50.00"), D("2.92"))
    post_memo(memo=second, actor=None)
    second.refresh_from_db()
    assert second.status == MemoStatus.POSTED


# --- Fix 3: amounts in the currency's places ----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "price", "shown", "available"),
    [
        ("USD", "1500", "1500.00", "1,500.00"),
        ("JPY", "432000", "432000", "432,000"),
        ("KWD", "12.5", "12.500", "12.500"),
    ],
)
def test_prefilled_amounts_use_the_currency_places(operator_client, code, price, shown, available):
    invoice = posted_invoice(price, code=code, taxable=False)
    (item,) = items_of(invoice)
    html = operator_client.get(page_url(invoice)).content.decode()
    cells = row_html(html, item)
    assert re.findall(r'name="item-\d+-amount"[^>]* value="([^"]*)"', cells) == [shown]
    assert f'data-testid="available">{available}<' in cells
    assert shown_errors(html) == []


def test_the_available_figure_shown_can_be_typed(operator_client):
    invoice = posted_invoice("200", "50")
    first, _ = items_of(invoice)
    html = operator_client.get(page_url(invoice)).content.decode()
    shown = re.search(r'data-testid="available">([\d,.]+)<', row_html(html, first)).group(1)
    memo = from_invoice(invoice, [row(first, shown.replace(",", ""))])
    assert memo.amount_excl_tax == D("200.00")


# --- Save and post -------------------------------------------------------------------------------


def test_save_and_post_creates_and_posts(operator_client):
    invoice = posted_invoice("100")
    html = operator_client.get(page_url(invoice)).content.decode()
    assert 'data-testid="save-and-post"' in html
    data = {**post_data(html), "idempotency_key": "post-1", "action": "post"}
    response = operator_client.post(page_url(invoice), data, follow=True)
    memo = Memo.objects.get(invoice=invoice)
    assert memo.status == MemoStatus.POSTED
    assert f"Credit memo {memo.number} was created and posted." in response.content.decode()


def test_save_and_post_needs_the_permission_to_post(client):
    creator = UserFactory(username="creator")
    creator.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_invoice", "view_memo", "create_memo_from_invoice"]
        )
    )
    client.force_login(creator)
    invoice = posted_invoice("100")
    html = client.get(page_url(invoice)).content.decode()
    assert 'data-testid="save-and-post"' not in html
    data = {**post_data(html), "idempotency_key": "post-2", "action": "post"}
    assert client.post(page_url(invoice), data).status_code == 403
    assert not Memo.objects.exists()


def test_a_refused_post_leaves_a_complete_draft_and_says_why(operator_client):
    invoice = posted_invoice("100")
    (item,) = items_of(invoice)
    html = operator_client.get(page_url(invoice)).content.decode()
    # Another memo takes the credit after this page opened: this one saves, but cannot post.
    post_memo(memo=from_invoice(invoice, [row(item, "100")]), actor=None)
    data = {**post_data(html), "idempotency_key": "post-3", "action": "post"}
    response = operator_client.post(page_url(invoice), data, follow=True)
    text = response.content.decode()
    assert "but not posted" in text or "available to credit" in text
    assert not Memo.objects.filter(invoice=invoice, status=MemoStatus.DRAFT, amount=0).exists()
