"""The create pages: permissions, live preview, errors beside rows, double submits."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.factories import AccountFactory, ChargeFactory, currency
from billing.models import ChargeModel, ChargeType
from billing.services import InvoiceLine, create_invoice
from memos.models import Memo

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice():
    return create_invoice(
        account=AccountFactory(name="Globex"),
        invoice_date=dt.date(2026, 10, 1),
        lines=[
            InvoiceLine(
                charge=ChargeFactory(name="Platform"), quantity=Decimal(1), unit_price=Decimal(200)
            ),
            InvoiceLine(
                charge=ChargeFactory(name="Support"), quantity=Decimal(1), unit_price=Decimal(50)
            ),
        ],
        post=True,
    )


def from_invoice_url(invoice, memo_type="credit"):
    return reverse("memos:memo_create_from_invoice", args=[invoice.number]) + f"?type={memo_type}"


def invoice_form_data(invoice, amounts: dict[str, str], **header):
    """POST data as the page sends it: every row, selected when it has an amount."""
    data = {
        "type": "credit",
        "memo_date": "2026-10-05",
        "reason_code": Memo._meta.get_field("reason_code")
        .related_model.objects.get(code_type="credit_memo", is_default=True)
        .pk,
        "tax_auto_calculation": "on",
        "idempotency_key": "key-1",
        **header,
    }
    for item in invoice.items.all():
        amount = amounts.get(item.charge_name)
        prefix = f"item-{item.pk}"
        if amount is not None:
            data[f"{prefix}-selected"] = "on"
            data[f"{prefix}-amount"] = amount
    return data


def test_the_page_lists_every_item_selected_with_its_available_to_credit(operator_client, invoice):
    response = operator_client.get(from_invoice_url(invoice))
    assert response.status_code == 200
    html = response.content.decode()
    # Without tax and the tax apart: the figure shown is the one typed in the amount column.
    assert "Available excl. Tax (USD)" in html
    assert "Available Tax (USD)" in html
    assert html.count('data-testid="available">200.00') == 1
    assert html.count('data-testid="available-tax">20.00') == 1
    assert html.count('data-testid="available">50.00') == 1
    assert html.count('data-testid="available-tax">5.00') == 1
    assert 'value="200.00"' in html and 'value="50.00"' in html
    assert 'data-testid="total-amount">USD 275.00' in html
    assert "Auto Apply: Apply to this invoice upon posting" in html


def test_debit_page_has_auto_pay_and_no_credit_options(operator_client, invoice):
    html = operator_client.get(from_invoice_url(invoice, "debit")).content.decode()
    assert "Auto-Pay" in html
    assert "Auto Apply" not in html
    assert "Available to Credit" not in html


def test_unknown_memo_type_is_404(operator_client, invoice):
    assert operator_client.get(from_invoice_url(invoice, "refund")).status_code == 404


def test_a_valid_post_creates_the_memo_and_redirects_to_it(operator_client, invoice):
    response = operator_client.post(
        from_invoice_url(invoice), invoice_form_data(invoice, {"Platform": "40"})
    )
    memo = Memo.objects.get()
    assert response.status_code == 302 and response.url == memo.get_absolute_url()
    assert memo.amount == Decimal("44.00") and memo.invoice == invoice
    assert memo.created_by.username == "operator"


def test_bad_input_rerenders_with_the_error_beside_the_row_and_keeps_what_was_typed(
    operator_client, invoice
):
    response = operator_client.post(
        from_invoice_url(invoice),
        invoice_form_data(invoice, {"Platform": "40.123", "Support": "10"}),
    )
    assert response.status_code == 200
    html = response.content.decode()
    platform = invoice.items.get(charge_name="Platform")
    assert "USD amounts allow at most 2 decimal places" in html
    # The error sits in the Platform row's error slot, and the typed value is still there.
    error_slot = html.split(f'id="row-item-{platform.pk}-errors"')[1].split("</div></td>")[0]
    assert "decimal places" in error_slot
    assert 'value="40.123"' in html
    assert Memo.objects.count() == 0


def test_over_crediting_an_item_is_refused_with_the_amount_available(operator_client, invoice):
    response = operator_client.post(
        from_invoice_url(invoice), invoice_form_data(invoice, {"Support": "60"})
    )
    assert response.status_code == 200
    assert "At most 55.00 available to credit on this item." in response.content.decode()
    assert Memo.objects.count() == 0


def test_memo_date_before_the_invoice_date_is_an_error_beside_the_field(operator_client, invoice):
    data = invoice_form_data(invoice, {"Platform": "10"}, memo_date="2026-09-30")
    html = operator_client.post(from_invoice_url(invoice), data).content.decode()
    assert "Memo Date cannot be before the invoice date 2026-10-01." in html
    assert Memo.objects.count() == 0


def test_the_htmx_preview_returns_totals_and_row_figures_and_writes_nothing(
    operator_client, invoice
):
    data = invoice_form_data(invoice, {"Platform": "40", "Support": "99"}, preview="1")
    response = operator_client.post(from_invoice_url(invoice), data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    # The totals' content only: the live region (#memo-totals) stays in the page, so screen
    # readers announce the change.
    assert "<html" not in html and 'id="memo-totals"' not in html
    assert 'data-testid="total-amount">USD 152.90' in html  # 44.00 + 108.90
    assert 'hx-swap-oob="true"' in html
    assert "At most 55.00 available to credit on this item." in html
    assert response["Vary"] and "HX-Request" in response["Vary"]
    assert Memo.objects.count() == 0


def test_two_identical_posts_create_one_memo(operator_client, invoice):
    data = invoice_form_data(invoice, {"Platform": "40"})
    first = operator_client.post(from_invoice_url(invoice), data)
    second = operator_client.post(from_invoice_url(invoice), data)
    assert Memo.objects.count() == 1
    assert first.url == second.url == Memo.objects.get().get_absolute_url()


def test_a_draft_invoice_sends_the_operator_back_with_a_message(operator_client):
    draft = create_invoice(
        account=AccountFactory(),
        invoice_date=dt.date(2026, 10, 1),
        lines=[InvoiceLine(charge=ChargeFactory(), quantity=Decimal(1), unit_price=Decimal(10))],
    )
    response = operator_client.get(from_invoice_url(draft), follow=True)
    assert response.redirect_chain[-1][0] == draft.get_absolute_url()
    assert "memos can only be created from posted invoices" in response.content.decode()


@pytest.mark.parametrize("role", ["reviewer", "viewer", "no_role_user"])
def test_roles_without_the_permission_cannot_post(client, request, role, invoice):
    client.force_login(request.getfixturevalue(role))
    response = client.post(
        from_invoice_url(invoice), invoice_form_data(invoice, {"Platform": "40"})
    )
    assert response.status_code == 403
    charges = client.post(reverse("memos:memo_create") + "?type=credit", {"account": "x"})
    assert charges.status_code == 403
    assert Memo.objects.count() == 0


def test_anonymous_posts_go_to_the_login_page(client, invoice):
    response = client.post(from_invoice_url(invoice), {})
    assert response.status_code == 302 and response.url.startswith("/login/")
    htmx = client.post(from_invoice_url(invoice), {"preview": "1"}, headers={"HX-Request": "true"})
    assert htmx["HX-Redirect"].startswith("/login/")


def test_invoice_page_shows_create_buttons_only_to_who_may_use_them(
    client, operator, viewer, invoice
):
    client.force_login(operator)
    assert "Create credit memo" in client.get(invoice.get_absolute_url()).content.decode()
    client.force_login(viewer)
    assert "Create credit memo" not in client.get(invoice.get_absolute_url()).content.decode()


# --- standalone memos from charges --------------------------------------------------------------


def charges_url(memo_type="debit"):
    return reverse("memos:memo_create") + f"?type={memo_type}"


def charge_form_data(account, lines: dict[str, dict], **header):
    data = {
        "type": "debit",
        "account": account.number,
        "memo_date": "2026-10-05",
        "reason_code": Memo._meta.get_field("reason_code")
        .related_model.objects.get(code_type="debit_memo", is_default=True)
        .pk,
        "tax_auto_calculation": "on",
        "auto_pay": "on",
        "idempotency_key": "key-2",
        **header,
    }
    data["line"] = list(lines)
    for key, values in lines.items():
        for name, value in values.items():
            data[f"line-{key}-{name}"] = value
    return data


def test_standalone_debit_memo_from_two_charges(operator_client):
    account = AccountFactory(currency=currency("JPY"))
    setup = ChargeFactory(name="Setup Fee", charge_type=ChargeType.ONE_TIME)
    usage = ChargeFactory(
        name="API Calls", charge_type=ChargeType.USAGE, charge_model=ChargeModel.PER_UNIT
    )
    data = charge_form_data(
        account,
        {
            "a1": {"charge": setup.pk, "unit_price": "5000"},
            "b2": {"charge": usage.pk, "unit_price": "300"},
        },
    )
    response = operator_client.post(charges_url(), data)
    memo = Memo.objects.get()
    assert response.status_code == 302 and response.url == memo.get_absolute_url()
    assert memo.currency_id == "JPY" and memo.amount == Decimal("5830")
    assert memo.items.get(charge=usage).quantity == 1


def test_a_discount_charge_cannot_be_chosen(operator_client):
    account = AccountFactory()
    discount = ChargeFactory(name="Big Discount", charge_model=ChargeModel.DISCOUNT)
    html = operator_client.get(charges_url()).content.decode()
    assert "Big Discount" not in html
    response = operator_client.post(
        charges_url(),
        charge_form_data(account, {"a1": {"charge": discount.pk, "unit_price": "10"}}),
    )
    assert response.status_code == 200 and Memo.objects.count() == 0
    assert "Select a valid choice" in response.content.decode()


def test_an_unknown_account_is_an_error_beside_the_field(operator_client):
    charge = ChargeFactory()
    data = charge_form_data(
        AccountFactory.build(number="A99999999"), {"a1": {"charge": charge.pk, "unit_price": "10"}}
    )
    html = operator_client.post(charges_url(), data).content.decode()
    assert "Choose an account from the list" in html
    assert Memo.objects.count() == 0


def test_no_lines_is_an_error(operator_client):
    account = AccountFactory()
    html = operator_client.post(charges_url(), charge_form_data(account, {})).content.decode()
    assert "Add at least one charge." in html


def test_account_search_and_add_line_are_htmx_branches_of_the_page(operator_client):
    AccountFactory(name="Umbrella Corporation")
    search = operator_client.get(
        charges_url(),
        {"account": "umbrella"},
        headers={"HX-Request": "true", "HX-Trigger-Name": "account"},
    )
    assert search.status_code == 200
    html = search.content.decode()
    assert 'role="option"' in html and "Umbrella Corporation" in html
    row = operator_client.get(charges_url(), {"add_line": "1"}, headers={"HX-Request": "true"})
    html = row.content.decode()
    assert row.status_code == 200 and "<html" not in html
    assert 'name="line"' in html and "Choose a charge" in html
