"""Hostile numbers through the real pages (item 4 of "Production-ready").

Every number a person types (amounts, quantities, typed tax, apply/unapply/refund amounts) and
every tax the engine answers is read by one parser (billing.money.parse_number: plain digits, no
exponent, NaN, Infinity or non-ASCII digits) and capped by one helper (billing.money.check_fits)
at what its database column holds, in the currency's places. A refused number is a form error
naming the limit, the htmx preview says the same, and nothing is written. Without the caps these
were 500s: PostgreSQL's "numeric field overflow" (DataError), decimal.InvalidOperation from
quantize() or the money filter, and on SQLite the same InvalidOperation when the row is read back.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.factories import AccountFactory, ChargeFactory, currency
from billing.models import ChargeType, Invoice
from memos.models import Memo, MemoItem, ReasonCode, TaxStatus
from memos.services.settlement import ApplicationTarget, apply_credit_memo
from tests.hostile_helpers import db_state, messages_of, text_of
from tests.memos.creation_helpers import posted_invoice
from tests.memos.test_settlement import credit_on, invoice_on

pytestmark = pytest.mark.django_db

D = Decimal
USD_CAP = "at most 9,999,999,999,999.99"
QUANTITY_CAP = "at most 999,999,999.999999"
PRICE_CAP = "at most 999,999,999,999,999."
HTMX = {"HX-Request": "true"}

# (typed text, what the error says): refused by the parser whatever the column.
NOT_NUMBERS = [
    pytest.param("1e30", "without an exponent", id="1e30"),
    pytest.param("1e3", "without an exponent", id="1e3"),
    pytest.param("1E+2", "without an exponent", id="1E+2"),
    pytest.param("NaN", "“NaN” is not a number", id="nan"),
    pytest.param("sNaN", "“sNaN” is not a number", id="snan"),
    pytest.param("Infinity", "“Infinity” is not a number", id="infinity"),
    pytest.param("-inf", "“-inf” is not a number", id="minus-inf"),
    pytest.param("١٢٣", "with the digits 0-9", id="arabic-indic-digits"),
    pytest.param("１２３", "with the digits 0-9", id="fullwidth-digits"),
    pytest.param("1_000", "Enter a number.", id="underscore"),
    pytest.param("12\x0034", "Enter a number.", id="nul"),
]
# Plain digits, but more than an amount column holds (with the tax on top, for the first).
TOO_LARGE_AMOUNTS = [
    pytest.param("9999999999999", USD_CAP, id="13-digits-plus-tax"),
    pytest.param("9999999999999.99", USD_CAP, id="the-cap-plus-tax"),
    pytest.param("10000000000000", USD_CAP, id="14-digits"),
    pytest.param("999999999999999", USD_CAP, id="15-digits"),
    pytest.param("9" * 400, USD_CAP, id="400-digits"),
]


@pytest.fixture
def op(client, operator):
    client.force_login(operator)
    return client


def today() -> str:
    return timezone.localdate().isoformat()


def reason(code_type: str) -> int:
    return ReasonCode.objects.get(code_type=code_type, is_default=True).pk


def errors_in(response, *expected: str) -> None:
    assert response.status_code == 200, response.status_code
    body = text_of(response)
    for text in expected:
        assert text in body, f"{text!r} not in the page"


# --- the from-invoice form (and its live preview) ------------------------------------------------


@pytest.fixture
def invoice() -> Invoice:
    """A posted USD invoice, items 200 and 50 taxed 10%."""
    return posted_invoice("200", "50")


def invoice_url(invoice: Invoice, memo_type: str) -> str:
    url = reverse("memos:memo_create_from_invoice", args=[invoice.number])
    return f"{url}?type={memo_type}"


def invoice_data(invoice: Invoice, memo_type: str, *, amount="10", tax=None, preview=False):
    """The first item selected with `amount`; with `tax`, auto-calculation off and the tax typed."""
    item = invoice.items.order_by("sort_order", "id").first()
    data = {
        "type": memo_type,
        "memo_date": today(),
        "reason_code": reason(f"{memo_type}_memo"),
        f"item-{item.pk}-selected": "on",
        f"item-{item.pk}-amount": amount,
    }
    if tax is None:
        data["tax_auto_calculation"] = "on"
    else:
        data[f"item-{item.pk}-tax_amount"] = tax
    if preview:
        data["preview"] = "1"
    return data


def post_invoice_form(client, invoice, memo_type, *, preview=False, **typed):
    before = db_state()
    response = client.post(
        invoice_url(invoice, memo_type),
        invoice_data(invoice, memo_type, preview=preview, **typed),
        headers=HTMX if preview else {},
    )
    assert response.status_code == 200, response.status_code
    assert db_state() == before
    return response


@pytest.mark.parametrize("preview", [False, True], ids=["submit", "preview"])
@pytest.mark.parametrize("memo_type", ["credit", "debit"])
@pytest.mark.parametrize(("typed", "says"), NOT_NUMBERS + TOO_LARGE_AMOUNTS)
def test_from_invoice_amount(op, invoice, memo_type, preview, typed, says):
    response = post_invoice_form(op, invoice, memo_type, preview=preview, amount=typed)
    errors_in(response, says)


@pytest.mark.parametrize("preview", [False, True], ids=["submit", "preview"])
@pytest.mark.parametrize("memo_type", ["credit", "debit"])
@pytest.mark.parametrize(("typed", "says"), NOT_NUMBERS + TOO_LARGE_AMOUNTS)
def test_from_invoice_typed_tax(op, invoice, memo_type, preview, typed, says):
    response = post_invoice_form(op, invoice, memo_type, preview=preview, amount="10", tax=typed)
    errors_in(response, says)


def test_from_invoice_amount_without_tax_at_the_cap_is_refused_with_tax_on_top(op, invoice):
    """The amount alone fits; with its 10% tax the line does not: the error says the total."""
    response = post_invoice_form(op, invoice, "debit", amount="9999999999999.99")
    errors_in(response, "Amount with tax 10,999,999,999,999.99 is too large", USD_CAP)


def test_a_jpy_cap_has_no_decimals(op):
    invoice = posted_invoice("2000", code="JPY")
    response = post_invoice_form(op, invoice, "debit", amount="1000000000000000")
    errors_in(response, "Amount 1,000,000,000,000,000 is too large: at most 999,999,999,999,999.")


def test_plain_numbers_still_work(op, invoice):
    """The parser reads what people type: digits, a point, surrounding spaces."""
    response = op.post(
        invoice_url(invoice, "debit"), invoice_data(invoice, "debit", amount=" 10.5 ")
    )
    assert response.status_code == 302
    assert Memo.objects.get().amount == D("11.55")


# --- the charges form (and its live preview) -----------------------------------------------------


@pytest.fixture
def acct():
    return AccountFactory(currency=currency("USD"))


@pytest.fixture
def charge():
    return ChargeFactory(charge_type=ChargeType.ONE_TIME, taxable=True)


@pytest.fixture
def untaxed():
    return ChargeFactory(charge_type=ChargeType.ONE_TIME, taxable=False)


def charges_data(account, memo_type, lines: dict, *, auto_tax=True, preview=False) -> dict:
    data = {
        "type": memo_type,
        "account": account.number,
        "memo_date": today(),
        "reason_code": reason(f"{memo_type}_memo"),
        "line": list(lines),
    }
    if auto_tax:
        data["tax_auto_calculation"] = "on"
    if preview:
        data["preview"] = "1"
    for key, fields in lines.items():
        for name, value in fields.items():
            data[f"line-{key}-{name}"] = value
    return data


def post_charges_form(client, data, *, preview=False):
    before = db_state()
    url = reverse("memos:memo_create") + f"?type={data['type']}"
    response = client.post(url, data, headers=HTMX if preview else {})
    assert response.status_code == 200, response.status_code
    assert db_state() == before
    return response


# The charges form's typed figure is the unit price (the amount is Unit price x Quantity): a
# price wider than its column says the column's limit, a product wider than an amount the
# currency's.
TOO_LARGE_PRICES = [
    *TOO_LARGE_AMOUNTS[:-1],
    pytest.param("9" * 400, PRICE_CAP, id="400-digits"),
]


@pytest.mark.parametrize("preview", [False, True], ids=["submit", "preview"])
@pytest.mark.parametrize("memo_type", ["credit", "debit"])
@pytest.mark.parametrize(("typed", "says"), NOT_NUMBERS + TOO_LARGE_PRICES)
def test_charges_unit_price(op, acct, charge, memo_type, preview, typed, says):
    data = charges_data(
        acct, memo_type, {"a1": {"charge": charge.pk, "unit_price": typed}}, preview=preview
    )
    errors_in(post_charges_form(op, data, preview=preview), says)


@pytest.mark.parametrize("preview", [False, True], ids=["submit", "preview"])
@pytest.mark.parametrize(("typed", "says"), NOT_NUMBERS + TOO_LARGE_AMOUNTS)
def test_charges_typed_tax(op, acct, charge, preview, typed, says):
    lines = {"a1": {"charge": charge.pk, "unit_price": "10", "tax_amount": typed}}
    data = charges_data(acct, "debit", lines, auto_tax=False, preview=preview)
    errors_in(post_charges_form(op, data, preview=preview), says)


@pytest.mark.parametrize("preview", [False, True], ids=["submit", "preview"])
@pytest.mark.parametrize(
    ("typed", "says"),
    [
        *NOT_NUMBERS,
        pytest.param("999999999999999", QUANTITY_CAP, id="15-digits"),
        pytest.param("1000000000", QUANTITY_CAP, id="10-digits"),
        pytest.param("9" * 400, QUANTITY_CAP, id="400-digits"),
    ],
)
def test_charges_quantity(op, acct, charge, preview, typed, says):
    lines = {"a1": {"charge": charge.pk, "unit_price": "10", "quantity": typed}}
    data = charges_data(acct, "debit", lines, preview=preview)
    errors_in(post_charges_form(op, data, preview=preview), "Quantity: ", says)


def test_a_unit_price_wider_than_its_column_is_refused(op, acct, untaxed):
    """6 decimals leave 9 whole digits of the price column (15 digits in all)."""
    lines = {"a1": {"charge": untaxed.pk, "unit_price": "9999999999.000001", "quantity": "1"}}
    response = post_charges_form(op, charges_data(acct, "debit", lines))
    errors_in(response, "Unit price", "at most 999,999,999.999999")


def test_a_product_wider_than_an_amount_is_refused(op, acct, untaxed):
    """Unit price x Quantity: each fits its column, the product does not fit an amount."""
    lines = {"a1": {"charge": untaxed.pk, "unit_price": "999999999", "quantity": "100000"}}
    response = post_charges_form(op, charges_data(acct, "debit", lines))
    errors_in(response, "Amount (unit price × quantity) 99,999,999,900,000", USD_CAP)


@pytest.mark.parametrize("preview", [False, True], ids=["submit", "preview"])
def test_a_memo_total_wider_than_its_column_is_refused(op, acct, untaxed, preview):
    """Each line fits; their sum does not."""
    lines = {
        "a1": {"charge": untaxed.pk, "unit_price": "6000000000000"},
        "b2": {"charge": untaxed.pk, "unit_price": "6000000000000"},
    }
    response = post_charges_form(
        op, charges_data(acct, "debit", lines, preview=preview), preview=preview
    )
    errors_in(response, "The memo total 12,000,000,000,000.00 is too large", USD_CAP)


def test_charges_lines_at_the_cap_are_created(op, acct, untaxed):
    """The limit itself is allowed: it is what the column holds."""
    lines = {"a1": {"charge": untaxed.pk, "unit_price": "9999999999999.99", "quantity": "1"}}
    response = op.post(
        reverse("memos:memo_create") + "?type=debit", charges_data(acct, "debit", lines)
    )
    assert response.status_code == 302
    memo = Memo.objects.get()
    assert memo.amount == D("9999999999999.99")
    assert MemoItem.objects.get().unit_price == D("9999999999999.99")


# --- apply, unapply, refund --------------------------------------------------------------------


@pytest.fixture
def settled():
    """A posted USD credit memo of 100.00 and an open invoice of 50.00 on the same account."""
    account = AccountFactory(currency=currency("USD"))
    credit = credit_on(account, "60", "40")
    invoice = invoice_on(account, "30", "20")
    return credit, invoice


SETTLEMENT_VALUES = [
    *NOT_NUMBERS,
    pytest.param("9999999999999", "", id="13-digits"),
    pytest.param("10000000000000", USD_CAP, id="14-digits"),
    pytest.param("9" * 400, USD_CAP, id="400-digits"),
]


@pytest.mark.parametrize("preview", [False, True], ids=["submit", "preview"])
@pytest.mark.parametrize("per_item", [False, True], ids=["header", "item"])
@pytest.mark.parametrize(("typed", "says"), SETTLEMENT_VALUES)
def test_apply_amount(op, settled, per_item, preview, typed, says):
    credit, invoice = settled
    key = f"invoice-{invoice.pk}"
    field = f"{key}-item-{invoice.items.first().pk}" if per_item else f"{key}-amount"
    data = {"effective_date": today(), field: typed}
    if preview:
        data["preview"] = "1"
    before = db_state()
    response = op.post(
        reverse("memos:memo_apply", args=[credit.number]), data, headers=HTMX if preview else {}
    )
    assert response.status_code == 200, response.status_code
    assert db_state() == before
    if not preview:
        errors_in(response, says)


@pytest.mark.parametrize(("typed", "says"), SETTLEMENT_VALUES)
def test_unapply_amount(op, settled, typed, says):
    credit, invoice = settled
    [application] = apply_credit_memo(
        credit_memo=credit,
        targets=[ApplicationTarget(invoice=invoice, amount=D("30"))],
        effective_date=timezone.localdate(),
        actor=None,
    )
    before = db_state()
    response = op.post(
        reverse("memos:memo_unapply", args=[credit.number, application.pk]),
        {"amount": typed, "effective_date": today()},
        follow=True,
    )
    assert response.status_code == 200
    assert db_state() == before
    [message] = messages_of(response)
    assert says in message


@pytest.mark.parametrize(("typed", "says"), SETTLEMENT_VALUES)
def test_refund_amount(op, settled, typed, says):
    credit, _ = settled
    data = {
        "amount": typed,
        "method": "check",
        "refund_date": today(),
        "reason_code": reason("refund"),
    }
    before = db_state()
    response = op.post(reverse("memos:memo_refund", args=[credit.number]), data)
    assert response.status_code == 200, response.status_code
    assert db_state() == before
    errors_in(response, says)


# --- the third-party tax engine answering absurd tax ---------------------------------------------


def engine_answer(tax: str, net: str | None = None):
    def answer(request):
        return {
            "lines": [
                {"key": line["key"], "amount_excl_tax": net or line["amount"], "tax_amount": tax}
                for line in request["lines"]
            ]
        }

    return answer


@pytest.mark.parametrize(
    ("tax", "says"),
    [
        pytest.param("1e30", f'"tax_amount" 1,{"000," * 9}000 is too large: {USD_CAP}', id="1e30"),
        pytest.param("NaN", "\"tax_amount\" 'NaN' is not a number", id="nan"),
        pytest.param(
            "9999999999999",
            "net 100.00 + tax 9,999,999,999,999.00 = 10,000,000,000,099.00 is too large: "
            + USD_CAP,
            id="huge-net-plus-tax",
        ),
        pytest.param(
            "9999999999999.99",
            "net 100.00 + tax 9,999,999,999,999.99 = 10,000,000,000,099.99 is too large: "
            + USD_CAP,
            id="the-cap-net-plus-tax",
        ),
    ],
)
def test_an_absurd_tax_from_the_engine_is_a_tax_error_naming_the_engine_and_the_value(
    op, acct, charge, tax_engine, tax, says
):
    """The engine's answer is refused like any failure of the engine (DOMAIN.md 2.6): the memo
    is kept as a Draft without tax, Tax Status Error, and the Tax Message names the engine and
    the value; posting it is refused until a recalculation succeeds."""
    tax_engine.mode = "malformed"
    tax_engine.malformed_body = engine_answer(tax)
    lines = {"a1": {"charge": charge.pk, "unit_price": "100"}}
    response = op.post(
        reverse("memos:memo_create") + "?type=debit", charges_data(acct, "debit", lines)
    )
    assert response.status_code == 302
    memo = Memo.objects.get()
    assert memo.tax_status == TaxStatus.ERROR
    assert memo.amount == D("100.00") and memo.tax_amount == 0
    assert memo.tax_message.startswith("The tax engine gave an invalid answer")
    assert says in memo.tax_message


def test_engine_taxes_that_sum_past_the_memo_column_are_a_tax_error(op, acct, untaxed, tax_engine):
    """Each line with its tax fits; the memo total does not: the engine's answer is refused."""
    tax_engine.mode = "malformed"
    tax_engine.malformed_body = engine_answer("4000000000000")
    lines = {
        "a1": {"charge": untaxed.pk, "unit_price": "3000000000000"},
        "b2": {"charge": untaxed.pk, "unit_price": "3000000000000"},
    }
    response = op.post(
        reverse("memos:memo_create") + "?type=debit", charges_data(acct, "debit", lines)
    )
    assert response.status_code == 302
    memo = Memo.objects.get()
    assert memo.tax_status == TaxStatus.ERROR
    assert memo.amount == D("6000000000000.00")
    assert "tax engine" in memo.tax_message and USD_CAP in memo.tax_message
    assert "14,000,000,000,000.00" in memo.tax_message
    # The tax committed at the engine belongs to no memo total: it was voided there.
    assert any(request["path"] == "/void" for request in tax_engine.requests)


def test_an_absurd_tax_on_recalculate_is_a_tax_error(op, acct, charge, tax_engine):
    lines = {"a1": {"charge": charge.pk, "unit_price": "100"}}
    op.post(reverse("memos:memo_create") + "?type=debit", charges_data(acct, "debit", lines))
    memo = Memo.objects.get()
    assert memo.tax_status == TaxStatus.COMPLETE
    tax_engine.mode = "malformed"
    tax_engine.malformed_body = engine_answer("9999999999999")
    response = op.post(reverse("memos:memo_recalculate_tax", args=[memo.number]))
    assert response.status_code == 302
    memo.refresh_from_db()
    assert memo.tax_status == TaxStatus.ERROR and USD_CAP in memo.tax_message
    assert memo.amount == D("100.00")


# --- dates at the end of the calendar ----------------------------------------------------------


def test_a_recurring_charge_on_the_last_day_of_the_calendar_is_a_row_error(op, acct):
    """The default service period of a recurring charge is the billing period around the memo
    date; on 9999-12-31 its end would be in the year 10000 (a ValueError, a 500 before)."""
    recurring = ChargeFactory(charge_type=ChargeType.RECURRING, billing_period="month")
    lines = {"a1": {"charge": recurring.pk, "unit_price": "10"}}
    data = {**charges_data(acct, "debit", lines), "memo_date": "9999-12-31"}
    errors_in(post_charges_form(op, data), "type the service dates")
    # With the service dates typed, the period is not needed.
    data["line-a1-service_start"] = data["line-a1-service_end"] = "9999-12-31"
    response = op.post(reverse("memos:memo_create") + "?type=debit", data)
    assert response.status_code == 302
    assert Memo.objects.get().items.get().service_end.year == 9999


# --- the memo list's amount filter --------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        *NOT_NUMBERS,
        pytest.param("10000000000000", "at most 999,999,999,999.999", id="wider-than-the-column"),
    ],
)
@pytest.mark.parametrize("bound", ["amount_min", "amount_max"])
def test_the_amount_filter_reads_numbers_like_the_forms(op, typed, says, bound):
    """The list mixes currencies: its cap has the column's three places."""
    for headers in ({}, HTMX):
        response = op.get(reverse("memos:memo_list"), {bound: typed}, headers=headers)
        errors_in(response, "Amount: ", says)
        assert response.context["rows"] == []
    export = op.get(reverse("memos:memo_export"), {bound: typed})
    assert export.status_code == 400 and says in export.content.decode()
