"""Creating memos (DOMAIN.md 2.2, 2.3, 2.8): every rule of create_memo_from_invoice and
create_memo_from_charges, through the services, against the database.

Every refused create is checked with `refused()`: a ValidationError, and no memo, item, event or
number written.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from billing.factories import (
    AccountingPeriodFactory,
    ChargeFactory,
    TaxCodeFactory,
    TaxRateFactory,
)
from billing.models import (
    BillingPeriod,
    BillingSettings,
    ChargeModel,
    ChargeType,
    CreditValidationLevel,
    InvoiceItem,
    InvoiceStatus,
    NumberSeries,
    PeriodStatus,
    TaxMode,
)
from memos.models import (
    Memo,
    MemoEvent,
    MemoItem,
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCode,
    ReasonCodeType,
    TaxStatus,
)
from memos.services import MAX_ITEMS, ChargeLine, create_memo_from_charges
from tests.memos.creation_helpers import (
    INVOICE_DATE,
    MEMO_DATE,
    D,
    account,
    errors_of,
    from_invoice,
    items_of,
    last_number,
    one_error,
    posted_invoice,
    refused,
    row,
)

pytestmark = pytest.mark.django_db

CREDIT, DEBIT = MemoType.CREDIT, MemoType.DEBIT
INCLUSIVE = TaxMode.INCLUSIVE


def set_validation_level(level: str) -> None:
    settings = BillingSettings.load()
    settings.credit_validation_level = level
    settings.save()


def set_status(memo: Memo, status: str) -> None:
    Memo.objects.filter(pk=memo.pk).update(status=status)


def reason(code_type: str, name: str) -> ReasonCode:
    return ReasonCode.objects.get(code_type=code_type, name=name)


def charge_memo(acct, lines, *, actor=None, **kwargs) -> Memo:
    kwargs.setdefault("memo_type", CREDIT)
    kwargs.setdefault("memo_date", MEMO_DATE)
    return create_memo_from_charges(account=acct, lines=lines, actor=actor, **kwargs)


def charge_line(charge, amount, **fields) -> ChargeLine:
    return ChargeLine(charge=charge, amount=D(amount), **fields)


# --- from an invoice: the invoice ----------------------------------------------------------------


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_a_memo_is_made_from_a_posted_invoice(memo_type, operator):
    memo = from_invoice(posted_invoice("100"), memo_type=memo_type, actor=operator)
    assert memo.status == MemoStatus.DRAFT
    assert memo.memo_type == memo_type


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_a_draft_invoice_is_refused(memo_type, operator):
    invoice = posted_invoice("100", post=False)
    assert invoice.status == InvoiceStatus.DRAFT
    with refused() as info:
        from_invoice(invoice, memo_type=memo_type, actor=operator)
    assert one_error(info) == (
        f"Invoice {invoice.number} is Draft: memos can only be created from posted invoices."
    )


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_a_canceled_invoice_is_refused(memo_type, operator):
    invoice = posted_invoice("100")
    invoice.status = InvoiceStatus.CANCELED
    invoice.save(update_fields=["status"])
    with refused() as info:
        from_invoice(invoice, memo_type=memo_type, actor=operator)
    assert "is Canceled: memos can only be created from posted invoices" in one_error(info)


def test_an_invoice_canceled_after_it_was_read_is_refused(operator):
    """The invoice is re-read under a row lock inside the transaction."""
    invoice = posted_invoice("100")
    stale = invoice.__class__.objects.get(pk=invoice.pk)
    invoice.__class__.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.CANCELED)
    with refused() as info:
        from_invoice(stale, actor=operator)
    assert one_error(info) == f"Invoice {invoice.number} is no longer posted."


@pytest.mark.parametrize("source", ["invoice", "charges"])
def test_an_unknown_memo_type_is_refused(source, operator):
    with refused() as info:
        if source == "invoice":
            from_invoice(posted_invoice("100"), memo_type="refund", actor=operator)
        else:
            charge_memo(account(), [charge_line(ChargeFactory(), "10")], memo_type="refund")
    assert one_error(info, "memo_type") == "Unknown memo type 'refund'."


# --- from an invoice: memo date ------------------------------------------------------------------


def test_memo_date_defaults_to_today(operator):
    today = timezone.localdate()
    invoice = posted_invoice("100", invoice_date=today - dt.timedelta(days=3))
    memo = from_invoice(invoice, memo_date=None, actor=operator)
    assert memo.memo_date == today


def test_memo_date_may_be_the_invoice_date(operator):
    memo = from_invoice(posted_invoice("100"), memo_date=INVOICE_DATE, actor=operator)
    assert memo.memo_date == INVOICE_DATE


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_memo_date_before_the_invoice_date_is_refused(memo_type, operator):
    invoice = posted_invoice("100")
    with refused() as info:
        from_invoice(
            invoice,
            memo_type=memo_type,
            memo_date=INVOICE_DATE - dt.timedelta(days=1),
            actor=operator,
        )
    assert one_error(info, "memo_date") == (
        "Memo Date cannot be before the invoice date 2025-03-10."
    )


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_memo_date_in_a_closed_period_is_refused(memo_type, operator):
    invoice = posted_invoice("100")
    AccountingPeriodFactory(
        name="Mar 2025",
        start_date=dt.date(2025, 3, 1),
        end_date=dt.date(2025, 3, 31),
        status=PeriodStatus.CLOSED,
    )
    with refused() as info:
        from_invoice(invoice, memo_type=memo_type, memo_date=MEMO_DATE, actor=operator)
    assert one_error(info, "memo_date") == (
        "Memo Date 2025-03-20 is in the closed accounting period Mar 2025 "
        "(2025-03-01 to 2025-03-31)."
    )


def test_memo_date_in_an_open_period_or_after_a_closed_one_is_allowed(operator):
    invoice = posted_invoice("100", "50")
    AccountingPeriodFactory(
        name="Mar 2025",
        start_date=dt.date(2025, 3, 1),
        end_date=dt.date(2025, 3, 31),
        status=PeriodStatus.OPEN,
    )
    AccountingPeriodFactory(
        name="Feb 2025",
        start_date=dt.date(2025, 2, 1),
        end_date=dt.date(2025, 2, 28),
        status=PeriodStatus.CLOSED,
    )
    first, second = items_of(invoice)
    assert from_invoice(invoice, [row(first, "10")], actor=operator).memo_date == MEMO_DATE
    later = dt.date(2025, 4, 1)
    assert from_invoice(invoice, [row(second, "10")], memo_date=later).memo_date == later


# --- reason codes (2.8) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("memo_type", "code_type"),
    [(CREDIT, ReasonCodeType.CREDIT_MEMO), (DEBIT, ReasonCodeType.DEBIT_MEMO)],
)
def test_reason_code_defaults_to_the_types_default(memo_type, code_type, operator):
    memo = from_invoice(posted_invoice("100"), memo_type=memo_type, actor=operator)
    assert memo.reason_code == reason(code_type, "Correcting Invoice Error")
    assert memo.reason_code.is_default
    assert memo.reason_code.code_type == code_type


def test_a_chosen_reason_code_of_the_type_is_kept(operator):
    chosen = reason(ReasonCodeType.CREDIT_MEMO, "Charge Dispute")
    memo = from_invoice(posted_invoice("100"), reason_code=chosen, actor=operator)
    assert memo.reason_code == chosen


@pytest.mark.parametrize(
    ("memo_type", "code_type", "name", "label"),
    [
        (CREDIT, ReasonCodeType.DEBIT_MEMO, "Ad hoc Debit", "Credit memo"),
        (DEBIT, ReasonCodeType.CREDIT_MEMO, "Ad hoc Credit", "Debit memo"),
        (CREDIT, ReasonCodeType.REFUND, "Standard Refund", "Credit memo"),
    ],
)
def test_a_reason_code_of_another_type_is_refused(memo_type, code_type, name, label, operator):
    invoice = posted_invoice("100")
    with refused() as info:
        from_invoice(
            invoice, memo_type=memo_type, reason_code=reason(code_type, name), actor=operator
        )
    assert one_error(info, "reason_code") == f"{name} is not a {label} reason code."


def test_a_deactivated_reason_code_is_refused(operator):
    code = reason(ReasonCodeType.CREDIT_MEMO, "Write-off")
    code.active = False
    code.save()
    with refused() as info:
        from_invoice(posted_invoice("100"), reason_code=code, actor=operator)
    assert one_error(info, "reason_code") == "The reason code Write-off is deactivated."


def test_without_an_active_default_reason_code_one_must_be_chosen(operator):
    ReasonCode.objects.filter(code_type=ReasonCodeType.CREDIT_MEMO, is_default=True).update(
        is_default=False
    )
    invoice = posted_invoice("100")
    with refused() as info:
        from_invoice(invoice, actor=operator)
    assert "No default reason code" in one_error(info, "reason_code")
    chosen = reason(ReasonCodeType.CREDIT_MEMO, "Ad hoc Credit")
    assert from_invoice(invoice, reason_code=chosen, actor=operator).reason_code == chosen


# --- rows: amounts -------------------------------------------------------------------------------


def test_partial_amounts_per_row(operator):
    invoice = posted_invoice("100", "200")
    first, second = items_of(invoice)
    memo = from_invoice(invoice, [row(first, "30"), row(second, "12.34")], actor=operator)
    items = list(memo.items.order_by("sort_order"))
    assert [(i.invoice_item, i.amount_excl_tax, i.tax_amount, i.amount) for i in items] == [
        (first, D("30.00"), D("3.00"), D("33.00")),
        (second, D("12.34"), D("1.23"), D("13.57")),
    ]
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == (
        D("42.34"),
        D("4.23"),
        D("46.57"),
    )


def test_deselected_rows_are_absent(operator):
    invoice = posted_invoice("100", "200", "300")
    first, second, third = items_of(invoice)
    memo = from_invoice(invoice, [row(first, "100"), row(third, "300")], actor=operator)
    assert list(memo.items.values_list("invoice_item", flat=True).order_by("sort_order")) == [
        first.pk,
        third.pk,
    ]
    assert not MemoItem.objects.filter(invoice_item=second).exists()
    assert memo.amount == D("440.00")


def test_no_row_selected_is_refused(operator):
    with refused() as info:
        from_invoice(posted_invoice("100"), [], actor=operator)
    assert one_error(info, "__all__") == "Select at least one item."


def test_a_row_copies_the_invoice_items_details(operator):
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    InvoiceItem.objects.filter(pk=item.pk).update(
        description="Setup",
        service_start=dt.date(2025, 3, 1),
        service_end=dt.date(2025, 3, 31),
        unit_of_measure="Each",
    )
    item.refresh_from_db()
    memo = from_invoice(invoice, [row(item, "50")], actor=operator)
    memo_item = memo.items.get()
    assert memo_item.invoice_item == item
    assert memo_item.charge == item.charge
    assert memo_item.charge_name == item.charge_name
    assert memo_item.description == "Setup"
    assert (memo_item.service_start, memo_item.service_end) == (
        dt.date(2025, 3, 1),
        dt.date(2025, 3, 31),
    )
    assert memo_item.quantity == item.quantity
    assert memo_item.unit_of_measure == "Each"
    assert memo_item.tax_code == item.tax_code
    assert memo_item.source_label == "Invoice item"
    # A typed description replaces the item's.
    other = from_invoice(invoice, [row(item, "10", description="Goodwill")], actor=operator)
    assert other.items.get().description == "Goodwill"


@pytest.mark.parametrize(
    ("code", "unit_price", "typed", "message"),
    [
        (
            "USD",
            "100",
            "10.005",
            "Amount 10.005 has too many decimals: USD amounts allow at most 2 decimal places.",
        ),
        (
            "JPY",
            "1000",
            "100.5",
            "Amount 100.5 has too many decimals: JPY amounts allow no decimals.",
        ),
        (
            "KWD",
            "100",
            "1.0005",
            "Amount 1.0005 has too many decimals: KWD amounts allow at most 3 decimal places.",
        ),
    ],
)
def test_amounts_with_too_many_decimals_are_refused_by_row(code, unit_price, typed, message):
    invoice = posted_invoice(unit_price, unit_price, code=code)
    first, second = items_of(invoice)
    with refused() as info:
        from_invoice(invoice, [row(first, "1", key="row-1"), row(second, typed, key="row-2")])
    assert info.value.message_dict == {"row-2": [message]}


@pytest.mark.parametrize(
    ("code", "typed", "net", "tax"),
    [
        ("USD", "10.50", "10.50", "1.05"),
        ("USD", "10.5", "10.50", "1.05"),  # fewer decimals are fine
        ("JPY", "1001", "1001", "100"),  # tax 100.1 rounded per item
        ("KWD", "1.005", "1.005", "0.101"),  # 0.1005 rounded half up
    ],
)
def test_amounts_within_the_currencys_decimals_are_accepted(code, typed, net, tax, operator):
    invoice = posted_invoice("5000", code=code)
    memo = from_invoice(invoice, [row(items_of(invoice)[0], typed)], actor=operator)
    item = memo.items.get()
    assert memo.currency.code == code
    assert (item.amount_excl_tax, item.tax_amount) == (D(net), D(tax))
    assert memo.amount == D(net) + D(tax)


def test_a_negative_amount_is_refused(operator):
    invoice = posted_invoice("100")
    with refused() as info:
        from_invoice(invoice, [row(items_of(invoice)[0], "-5", key="r1")], actor=operator)
    assert one_error(info, "r1") == "Amount cannot be negative: the memo type gives the direction."


def test_a_negative_typed_tax_is_refused(operator):
    invoice = posted_invoice("100")
    with refused() as info:
        from_invoice(
            invoice,
            [row(items_of(invoice)[0], "5", key="r1", tax_amount=D("-1"))],
            tax_auto_calculation=False,
            actor=operator,
        )
    assert one_error(info, "r1") == "Tax cannot be negative."


def test_row_errors_default_to_the_invoice_item_key():
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    with refused() as info:
        from_invoice(invoice, [row(item, "-1")])
    assert list(info.value.message_dict) == [f"item:{item.pk}"]


def test_errors_of_every_row_are_reported_together():
    invoice = posted_invoice("100", "100", "100")
    first, second, third = items_of(invoice)
    with refused() as info:
        from_invoice(
            invoice,
            [row(first, "-1", key="a"), row(second, "10", key="b"), row(third, "0.001", key="c")],
            memo_date=INVOICE_DATE - dt.timedelta(days=1),
        )
    assert set(info.value.message_dict) == {"a", "c", "memo_date"}


# --- rows: zero amounts and a zero total ---------------------------------------------------------


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_a_zero_row_is_allowed_to_correct_tax(memo_type, operator):
    invoice = posted_invoice("100", "100")
    first, second = items_of(invoice)
    memo = from_invoice(
        invoice,
        [row(first, "0", tax_amount=D("2.50")), row(second, "20", tax_amount=D("0"))],
        memo_type=memo_type,
        tax_auto_calculation=False,
        actor=operator,
    )
    items = list(memo.items.order_by("sort_order"))
    assert [(i.amount_excl_tax, i.tax_amount, i.amount) for i in items] == [
        (D("0.00"), D("2.50"), D("2.50")),
        (D("20.00"), D("0.00"), D("20.00")),
    ]
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == (
        D("20.00"),
        D("2.50"),
        D("22.50"),
    )
    assert memo.tax_auto_calculation is False


def test_a_memo_of_only_a_tax_correction_is_allowed(operator):
    invoice = posted_invoice("100")
    memo = from_invoice(
        invoice,
        [row(items_of(invoice)[0], "0", tax_amount=D("1.00"))],
        tax_auto_calculation=False,
        actor=operator,
    )
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == (D("0"), D("1"), D("1"))


ZERO_ROW = "Amount is 0: a line of 0 is only allowed to correct tax (type the tax)."


@pytest.mark.parametrize(
    ("auto", "typed_tax"),
    [
        (True, None),  # auto-calculation on: the row has no tax to correct
        (False, None),  # auto-calculation off, no tax typed
        (False, D("0")),  # auto-calculation off, tax 0
    ],
)
def test_a_zero_row_is_refused_otherwise(auto, typed_tax, operator):
    invoice = posted_invoice("100", "100")
    first, second = items_of(invoice)
    with refused() as info:
        from_invoice(
            invoice,
            [row(first, "10", key="ok"), row(second, "0", key="zero", tax_amount=typed_tax)],
            tax_auto_calculation=auto,
            actor=operator,
        )
    assert info.value.message_dict == {"zero": [ZERO_ROW]}


def test_a_zero_row_with_a_zero_rate_tax_code_is_refused(operator):
    """Auto-calculation on, a 0% tax code: amount 0 gives tax 0, which corrects nothing."""
    zero_rated = TaxCodeFactory(code="ZERO")
    TaxRateFactory(tax_code=zero_rated, rate=D("0"))
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    InvoiceItem.objects.filter(pk=item.pk).update(tax_code=zero_rated)
    item.refresh_from_db()
    with refused() as info:
        from_invoice(invoice, [row(item, "0", key="r")], actor=operator)
    assert one_error(info, "r") == ZERO_ROW


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
@pytest.mark.parametrize("auto", [True, False])
def test_a_memo_whose_total_is_zero_is_refused(memo_type, auto, operator):
    invoice = posted_invoice("100", "100")
    first, second = items_of(invoice)
    with refused() as info:
        from_invoice(
            invoice,
            [row(first, "0", key="a"), row(second, "0.00", key="b")],
            memo_type=memo_type,
            tax_auto_calculation=auto,
            actor=operator,
        )
    assert info.value.message_dict == {"a": [ZERO_ROW], "b": [ZERO_ROW]}
    assert Memo.objects.count() == 0


# --- rows: tax -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "typed", "net", "tax"),
    [
        ("USD", "110", "100.00", "10.00"),
        ("USD", "100", "90.91", "9.09"),
        ("USD", "0.01", "0.01", "0.00"),
        ("JPY", "1000", "909", "91"),
        ("KWD", "1.000", "0.909", "0.091"),
        ("KWD", "10.005", "9.095", "0.910"),
    ],
)
def test_tax_included_splits_the_amount_exactly(code, typed, net, tax, operator):
    invoice = posted_invoice("5000", code=code)
    memo = from_invoice(
        invoice, [row(items_of(invoice)[0], typed, tax_mode=INCLUSIVE)], actor=operator
    )
    item = memo.items.get()
    assert item.tax_mode == INCLUSIVE
    assert (item.amount_excl_tax, item.tax_amount) == (D(net), D(tax))
    assert item.amount == D(typed)
    assert memo.amount == D(typed)
    assert memo.amount_excl_tax + memo.tax_amount == memo.amount


def test_tax_excluded_adds_tax_on_top_per_item(operator):
    invoice = posted_invoice("100", "100", "100")
    rows = [row(item, "0.05") for item in items_of(invoice)]
    memo = from_invoice(invoice, rows, actor=operator)
    # 0.005 rounds half up per item: three times 0.01, not 0.015 -> 0.02 once.
    assert list(memo.items.values_list("tax_amount", flat=True)) == [D("0.01")] * 3
    assert memo.tax_amount == D("0.03")
    assert memo.amount == D("0.18")


def test_tax_is_the_invoice_dates_rate(operator):
    """A later rate does not apply: the credit reverses the invoice's tax."""
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    TaxRateFactory(tax_code=item.tax_code, rate=D("20"), effective_from=dt.date(2025, 3, 15))
    memo = from_invoice(invoice, [row(item, "100")], memo_date=MEMO_DATE, actor=operator)
    assert memo.tax_amount == D("10.00")


def test_an_untaxed_invoice_item_gets_no_tax(operator):
    invoice = posted_invoice("100", taxable=False)
    memo = from_invoice(invoice, actor=operator)
    assert (memo.tax_amount, memo.amount) == (D("0"), D("100"))
    assert memo.items.get().tax_code is None


def test_with_auto_calculation_off_the_typed_tax_is_used(operator):
    invoice = posted_invoice("100", "100")
    first, second = items_of(invoice)
    memo = from_invoice(
        invoice,
        [row(first, "40", tax_amount=D("7.77")), row(second, "10")],
        tax_auto_calculation=False,
        actor=operator,
    )
    items = list(memo.items.order_by("sort_order"))
    assert [(i.amount_excl_tax, i.tax_amount, i.amount) for i in items] == [
        (D("40"), D("7.77"), D("47.77")),
        (D("10"), D("0"), D("10")),  # no tax typed: none
    ]
    assert (memo.tax_amount, memo.amount) == (D("7.77"), D("57.77"))
    assert memo.tax_auto_calculation is False


def test_with_auto_calculation_off_tax_included_is_refused(operator):
    invoice = posted_invoice("100")
    with refused() as info:
        from_invoice(
            invoice,
            [row(items_of(invoice)[0], "50", key="r", tax_mode=INCLUSIVE, tax_amount=D("5"))],
            tax_auto_calculation=False,
            actor=operator,
        )
    assert one_error(info, "r") == "Tax-Included needs tax auto-calculation."


def test_with_auto_calculation_on_a_typed_tax_is_refused(operator):
    invoice = posted_invoice("100")
    with refused() as info:
        from_invoice(
            invoice, [row(items_of(invoice)[0], "50", key="r", tax_amount=D("5"))], actor=operator
        )
    assert "Tax is calculated automatically" in one_error(info, "r")


def test_typed_tax_with_too_many_decimals_is_refused(operator):
    invoice = posted_invoice("1000", code="JPY")
    with refused() as info:
        from_invoice(
            invoice,
            [row(items_of(invoice)[0], "100", key="r", tax_amount=D("10.5"))],
            tax_auto_calculation=False,
            actor=operator,
        )
    assert one_error(info, "r") == "Tax 10.5 has too many decimals: JPY amounts allow no decimals."


def test_a_tax_code_without_a_rate_on_the_invoice_date_is_a_row_error(operator):
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    late = TaxCodeFactory(code="LATE")
    TaxRateFactory(tax_code=late, effective_from=dt.date(2026, 1, 1))
    InvoiceItem.objects.filter(pk=item.pk).update(tax_code=late)
    item.refresh_from_db()
    with refused() as info:
        from_invoice(invoice, [row(item, "10", key="r")], actor=operator)
    assert one_error(info, "r") == "Tax code LATE has no rate in force on 2025-03-10."


# --- available to credit -------------------------------------------------------------------------


def test_a_credit_up_to_the_item_amount_with_tax_is_allowed(operator):
    invoice = posted_invoice("100")
    memo = from_invoice(invoice, [row(items_of(invoice)[0], "100")], actor=operator)
    assert memo.amount == D("110.00")


def test_a_credit_beyond_the_item_is_refused_at_item_level(operator):
    invoice = posted_invoice("100", "100")
    first, second = items_of(invoice)
    assert BillingSettings.load().credit_validation_level == CreditValidationLevel.HEADER_AND_ITEM
    with refused() as info:
        # 100.01 + 10% = 110.01 > 110.00; the invoice as a whole (220) would still cover it.
        from_invoice(invoice, [row(first, "100.01", key="a"), row(second, "1", key="b")])
    assert info.value.message_dict == {"a": ["At most 110.00 available to credit on this item."]}


def test_tax_included_credit_is_checked_with_its_tax(operator):
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    with refused() as info:
        from_invoice(invoice, [row(item, "110.01", key="a", tax_mode=INCLUSIVE)])
    assert one_error(info, "a") == "At most 110.00 available to credit on this item."
    memo = from_invoice(invoice, [row(item, "110", tax_mode=INCLUSIVE)], actor=operator)
    assert memo.amount == D("110")


def test_a_credit_beyond_the_invoice_is_refused_at_header_level(operator):
    invoice = posted_invoice("100", "100")
    first, second = items_of(invoice)
    set_validation_level(CreditValidationLevel.HEADER)
    with refused() as info:
        from_invoice(invoice, [row(first, "150", key="a"), row(second, "60.01", key="b")])
    assert info.value.message_dict == {
        "__all__": [
            f"The memo credits USD 231.01, but only USD 220.00 of invoice {invoice.number} "
            "is available to credit."
        ]
    }


def test_both_levels_report_item_and_header_errors(operator):
    invoice = posted_invoice("100", "100")
    first, second = items_of(invoice)
    with refused() as info:
        from_invoice(invoice, [row(first, "150", key="a"), row(second, "60", key="b")])
    errors = info.value.message_dict
    assert errors["a"] == ["At most 110.00 available to credit on this item."]
    assert "b" not in errors
    assert errors["__all__"] == [
        f"The memo credits USD 231.00, but only USD 220.00 of invoice {invoice.number} "
        "is available to credit."
    ]


def test_header_only_lets_a_row_exceed_its_item_while_the_total_fits(operator):
    invoice = posted_invoice("100", "100")
    first, second = items_of(invoice)
    lines = [row(first, "150"), row(second, "40")]  # 165 + 44 = 209 <= 220
    with refused():
        from_invoice(invoice, lines, actor=operator)
    set_validation_level(CreditValidationLevel.HEADER)
    memo = from_invoice(invoice, lines, actor=operator)
    assert memo.amount == D("209.00")
    assert memo.items.get(invoice_item=first).amount == D("165.00")


def test_header_level_counts_every_item_of_the_invoice(operator):
    """Header level compares the memo with the whole invoice, selected rows or not."""
    invoice = posted_invoice("100", "100")
    first, _second = items_of(invoice)
    set_validation_level(CreditValidationLevel.HEADER)
    memo = from_invoice(invoice, [row(first, "200")], actor=operator)  # 220 <= 220
    assert memo.amount == D("220.00")


def test_no_validation_allows_any_credit(operator):
    invoice = posted_invoice("100", "100")
    first, second = items_of(invoice)
    set_validation_level(CreditValidationLevel.NONE)
    memo = from_invoice(invoice, [row(first, "500"), row(second, "500")], actor=operator)
    assert memo.amount == D("1100.00")


def test_posted_credit_memos_from_the_same_item_reduce_availability(operator):
    invoice = posted_invoice("100", "100")
    first, second = items_of(invoice)
    earlier = from_invoice(invoice, [row(first, "50")], actor=operator)  # 55.00
    set_status(earlier, MemoStatus.POSTED)
    with refused() as info:
        from_invoice(invoice, [row(first, "50.01", key="a")], actor=operator)
    assert one_error(info, "a") == "At most 55.00 available to credit on this item."
    # The rest of the item, and the other item in full, are still available.
    memo = from_invoice(invoice, [row(first, "50"), row(second, "100")], actor=operator)
    assert memo.amount == D("165.00")


def test_a_fully_credited_item_has_nothing_left(operator):
    invoice = posted_invoice("100", "100")
    first, second = items_of(invoice)
    set_status(from_invoice(invoice, [row(first, "100")], actor=operator), MemoStatus.POSTED)
    with refused() as info:
        from_invoice(invoice, [row(first, "0.01", key="a")], actor=operator)
    assert one_error(info, "a") == "At most 0.00 available to credit on this item."
    # Header level: the invoice has 110.00 left, on the other item.
    set_validation_level(CreditValidationLevel.HEADER)
    with refused() as info:
        from_invoice(invoice, [row(second, "100.01", key="b")], actor=operator)
    assert "only USD 110.00 of invoice" in one_error(info, "__all__")


def test_posted_credit_memos_of_another_item_do_not_reduce_an_items_availability(operator):
    invoice = posted_invoice("100", "100")
    first, second = items_of(invoice)
    set_status(from_invoice(invoice, [row(first, "100")], actor=operator), MemoStatus.POSTED)
    memo = from_invoice(invoice, [row(second, "100")], actor=operator)
    assert memo.amount == D("110.00")


@pytest.mark.parametrize("status", [MemoStatus.DRAFT, MemoStatus.CANCELED])
def test_draft_and_canceled_credit_memos_do_not_reduce_availability(status, operator):
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    set_status(from_invoice(invoice, [row(item, "100")], actor=operator), status)
    memo = from_invoice(invoice, [row(item, "100")], actor=operator)
    assert memo.amount == D("110.00")


def test_posted_debit_memos_do_not_reduce_availability(operator):
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    set_status(
        from_invoice(invoice, [row(item, "100")], memo_type=DEBIT, actor=operator),
        MemoStatus.POSTED,
    )
    assert from_invoice(invoice, [row(item, "100")], actor=operator).amount == D("110.00")


def test_debit_memos_from_invoices_are_not_limited(operator):
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    set_status(from_invoice(invoice, [row(item, "100")], actor=operator), MemoStatus.POSTED)
    memo = from_invoice(invoice, [row(item, "5000")], memo_type=DEBIT, actor=operator)
    assert memo.amount == D("5500.00")


# --- rows: which items ---------------------------------------------------------------------------


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_items_of_another_invoice_are_refused(memo_type, operator):
    invoice = posted_invoice("100")
    other = posted_invoice("100", on_account=invoice.account)
    with refused() as info:
        from_invoice(
            invoice,
            [row(items_of(invoice)[0], "10", key="mine"), row(items_of(other)[0], "10", key="x")],
            memo_type=memo_type,
            actor=operator,
        )
    assert info.value.message_dict == {
        "x": [f"This item belongs to another invoice than {invoice.number}."]
    }


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_the_same_item_twice_is_refused(memo_type, operator):
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    with refused() as info:
        from_invoice(
            invoice,
            [row(item, "10", key="a"), row(item, "20", key="b")],
            memo_type=memo_type,
            actor=operator,
        )
    assert info.value.message_dict == {"b": ["This invoice item is selected twice."]}


def invoice_with_items(count: int):
    """A posted invoice with `count` items of 1.00 (+0.10 tax), made cheaply with bulk_create."""
    invoice = posted_invoice("1")
    template = items_of(invoice)[0]
    InvoiceItem.objects.bulk_create(
        InvoiceItem(
            invoice=invoice,
            sort_order=n,
            charge=template.charge,
            charge_name=template.charge_name,
            quantity=D(1),
            unit_price=D(1),
            amount_excl_tax=D("1"),
            tax_code=template.tax_code,
            tax_amount=D("0.10"),
            amount=D("1.10"),
            balance=D("1.10"),
        )
        for n in range(2, count + 1)
    )
    items = items_of(invoice)
    assert len(items) == count
    return invoice, items


def test_at_most_1000_items_per_memo(operator):
    assert MAX_ITEMS == 1000
    invoice, items = invoice_with_items(1001)
    with refused() as info:
        from_invoice(invoice, [row(item, "1") for item in items], actor=operator)
    assert one_error(info, "__all__") == "A memo can have at most 1,000 items; this one has 1,001."


def test_1000_items_are_allowed(operator):
    invoice, items = invoice_with_items(1000)
    memo = from_invoice(invoice, [row(item, "1") for item in items], actor=operator)
    assert memo.items.count() == 1000
    assert memo.amount == D("1100.00")
    assert memo.events.get().after["items"] == 1000


# --- header flags --------------------------------------------------------------------------------


def test_credit_memo_keeps_its_auto_apply_flags_and_has_no_auto_pay(operator):
    memo = from_invoice(
        posted_invoice("100"),
        apply_to_invoice_on_post=True,
        exclude_from_auto_apply=True,
        auto_pay=True,
        actor=operator,
    )
    assert memo.apply_to_invoice_on_post is True
    assert memo.exclude_from_auto_apply is True
    assert memo.auto_pay is False


def test_credit_memo_auto_apply_flags_default_off(operator):
    memo = from_invoice(posted_invoice("100"), actor=operator)
    assert (memo.apply_to_invoice_on_post, memo.exclude_from_auto_apply, memo.auto_pay) == (
        False,
        False,
        False,
    )


def test_debit_memo_auto_pay_defaults_on_and_credit_only_flags_are_off(operator):
    memo = from_invoice(
        posted_invoice("100"),
        memo_type=DEBIT,
        apply_to_invoice_on_post=True,
        exclude_from_auto_apply=True,
        actor=operator,
    )
    assert memo.auto_pay is True
    assert memo.apply_to_invoice_on_post is False
    assert memo.exclude_from_auto_apply is False


def test_debit_memo_auto_pay_can_be_turned_off(operator):
    memo = from_invoice(posted_invoice("100"), memo_type=DEBIT, auto_pay=False, actor=operator)
    assert memo.auto_pay is False


# --- the memo written ----------------------------------------------------------------------------


def test_a_credit_memo_from_an_invoice(operator):
    invoice = posted_invoice("100", "50", code="USD")
    first, second = items_of(invoice)
    memo = from_invoice(
        invoice,
        [row(first, "100"), row(second, "20")],
        comments="Customer complaint",
        actor=operator,
    )
    memo.refresh_from_db()
    assert memo.number == "CM00000001"
    assert last_number(NumberSeries.Key.CREDIT_MEMO) == 1
    assert memo.memo_type == CREDIT
    assert memo.status == MemoStatus.DRAFT
    assert memo.source == MemoSource.INVOICE
    assert memo.invoice == invoice
    assert memo.bill_run is None
    assert memo.account == invoice.account
    assert memo.currency == invoice.currency
    assert memo.memo_date == MEMO_DATE
    assert memo.comments == "Customer complaint"
    assert memo.created_by == operator
    assert memo.posted_at is None
    assert memo.transferred_to_accounting == "no"
    assert memo.tax_auto_calculation is True
    assert memo.taxed_by_third_party is False
    assert memo.tax_status == TaxStatus.NONE
    items = list(memo.items.order_by("sort_order"))
    assert [i.sort_order for i in items] == [1, 2]
    assert memo.amount_excl_tax == sum(i.amount_excl_tax for i in items) == D("120.00")
    assert memo.tax_amount == sum(i.tax_amount for i in items) == D("12.00")
    assert memo.amount == sum(i.amount for i in items) == D("132.00")
    assert memo.unapplied_amount == memo.amount
    assert (memo.applied_amount, memo.refund_amount, memo.balance) == (D(0), D(0), D(0))
    assert [i.unapplied_amount for i in items] == [D("110.00"), D("22.00")]
    assert all(i.balance == 0 for i in items)
    # The invoice itself is untouched.
    invoice.refresh_from_db()
    assert (invoice.status, invoice.balance) == (InvoiceStatus.POSTED, D("165.00"))


def test_a_debit_memo_from_an_invoice(operator):
    invoice = posted_invoice("100", "50")
    memo = from_invoice(invoice, memo_type=DEBIT, actor=operator)
    memo.refresh_from_db()
    assert memo.number == "DM00000001"
    assert last_number(NumberSeries.Key.DEBIT_MEMO) == 1
    assert last_number(NumberSeries.Key.CREDIT_MEMO) == 0
    assert memo.status == MemoStatus.DRAFT
    assert memo.invoice == invoice
    assert memo.amount == D("165.00")
    assert memo.balance == memo.amount
    assert [i.balance for i in memo.items.order_by("sort_order")] == [D("110.00"), D("55.00")]


def test_a_jpy_invoice_gives_a_jpy_memo(operator):
    invoice = posted_invoice("1000", code="JPY", on_account=account("JPY"))
    memo = from_invoice(invoice, [row(items_of(invoice)[0], "999")], actor=operator)
    assert memo.currency.code == "JPY"
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == (D(999), D(100), D(1099))


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_a_created_event_records_the_actor(memo_type, operator):
    invoice = posted_invoice("100")
    memo = from_invoice(invoice, memo_type=memo_type, actor=operator)
    event = MemoEvent.objects.get(memo=memo)
    assert event.kind == MemoEvent.Kind.CREATED
    assert event.actor == operator
    label = "credit memo" if memo_type == CREDIT else "debit memo"
    assert event.message == f"Created {label} from invoice {invoice.number}"
    assert event.after == {"status": "Draft", "amount": "110.00", "items": 1}


def test_an_anonymous_actor_is_recorded_as_nobody():
    from django.contrib.auth.models import AnonymousUser

    memo = from_invoice(posted_invoice("100"), actor=AnonymousUser())
    assert memo.created_by is None
    assert memo.events.get().actor is None


# --- from charges --------------------------------------------------------------------------------


def test_a_memo_from_charges(operator):
    acct = account("USD")
    setup = ChargeFactory(name="Setup", charge_type=ChargeType.ONE_TIME)
    support = ChargeFactory(name="Support", billing_period=BillingPeriod.MONTH)
    memo = charge_memo(
        acct,
        [
            charge_line(setup, "100", description="Refund setup"),
            charge_line(support, "25.50", quantity=D("2")),
        ],
        comments="Goodwill",
        exclude_from_auto_apply=True,
        actor=operator,
    )
    memo.refresh_from_db()
    assert memo.number == "CM00000001"
    assert memo.status == MemoStatus.DRAFT
    assert memo.source == MemoSource.CHARGES
    assert memo.invoice is None
    assert memo.account == acct
    assert memo.currency == acct.currency
    assert memo.comments == "Goodwill"
    assert memo.exclude_from_auto_apply is True
    assert memo.apply_to_invoice_on_post is False
    assert memo.auto_pay is False
    assert memo.reason_code == reason(ReasonCodeType.CREDIT_MEMO, "Correcting Invoice Error")
    items = list(memo.items.order_by("sort_order"))
    assert [(i.charge, i.charge_name, i.description) for i in items] == [
        (setup, "Setup", "Refund setup"),
        (support, "Support", ""),
    ]
    assert [(i.amount_excl_tax, i.tax_amount, i.amount) for i in items] == [
        (D("100"), D("10"), D("110")),
        (D("25.50"), D("2.55"), D("28.05")),
    ]
    assert [(i.quantity, i.unit_price) for i in items] == [(D(1), D(100)), (D(2), D("12.75"))]
    assert all(i.invoice_item is None and i.source_label == "Catalog charge" for i in items)
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == (
        D("125.50"),
        D("12.55"),
        D("138.05"),
    )
    assert memo.unapplied_amount == memo.amount
    event = memo.events.get()
    assert (event.kind, event.actor, event.message) == (
        MemoEvent.Kind.CREATED,
        operator,
        "Created credit memo from charges",
    )


def test_a_debit_memo_from_charges(operator):
    memo = charge_memo(
        account(), [charge_line(ChargeFactory(), "40")], memo_type=DEBIT, actor=operator
    )
    assert memo.number == "DM00000001"
    assert memo.reason_code == reason(ReasonCodeType.DEBIT_MEMO, "Correcting Invoice Error")
    assert memo.auto_pay is True
    assert memo.exclude_from_auto_apply is False
    assert memo.amount == memo.balance == D("44.00")
    assert memo.items.get().balance == D("44.00")


def test_a_discount_charge_is_refused(operator):
    discount = ChargeFactory(name="Loyalty discount", charge_model=ChargeModel.DISCOUNT)
    with refused() as info:
        charge_memo(
            account(),
            [charge_line(ChargeFactory(), "10", key="ok"), charge_line(discount, "10", key="d")],
            actor=operator,
        )
    assert info.value.message_dict == {
        "d": ["Loyalty discount is a discount charge: discount charges cannot be put on a memo."]
    }


def test_charge_row_errors_default_to_the_line_position(operator):
    discount = ChargeFactory(charge_model=ChargeModel.DISCOUNT)
    with refused() as info:
        charge_memo(account(), [charge_line(ChargeFactory(), "10"), charge_line(discount, "10")])
    assert list(info.value.message_dict) == ["line:2"]


def usage_charge():
    return ChargeFactory(charge_type=ChargeType.USAGE, charge_model=ChargeModel.PER_UNIT)


@pytest.mark.parametrize("empty", [None, ""])
def test_usage_charge_quantity_left_empty_is_1(empty, operator):
    memo = charge_memo(account(), [charge_line(usage_charge(), "12", quantity=empty)])
    item = memo.items.get()
    assert item.quantity == D(1)
    assert item.unit_price == D(12)
    assert item.unit_of_measure == "GB"


def test_usage_charge_quantity_is_kept(operator):
    memo = charge_memo(account(), [charge_line(usage_charge(), "12", quantity=D("2.5"))])
    item = memo.items.get()
    assert (item.quantity, item.unit_price) == (D("2.5"), D("4.8"))


@pytest.mark.parametrize("quantity", ["0", "-1", "-0.5"])
def test_usage_charge_quantity_must_be_positive(quantity, operator):
    with refused() as info:
        charge_memo(account(), [charge_line(usage_charge(), "12", quantity=D(quantity), key="u")])
    assert one_error(info, "u") == "Quantity of a usage charge must be positive."


@pytest.mark.parametrize("quantity", ["0", "-2"])
def test_other_charges_quantity_must_be_positive(quantity, operator):
    with refused() as info:
        charge_memo(account(), [charge_line(ChargeFactory(), "12", quantity=D(quantity), key="c")])
    assert one_error(info, "c") == "Quantity must be positive."


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        (BillingPeriod.MONTH, dt.date(2025, 3, 1), dt.date(2025, 3, 31)),
        (BillingPeriod.QUARTER, dt.date(2025, 1, 1), dt.date(2025, 3, 31)),
        (BillingPeriod.YEAR, dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    ],
)
def test_service_period_defaults_to_the_recurring_charges_period(period, start, end, operator):
    charge = ChargeFactory(charge_type=ChargeType.RECURRING, billing_period=period)
    memo = charge_memo(account(), [charge_line(charge, "10")], memo_date=MEMO_DATE)
    item = memo.items.get()
    assert (item.service_start, item.service_end) == (start, end)


def test_service_period_of_a_monthly_charge_in_february_of_a_leap_year(operator):
    charge = ChargeFactory(charge_type=ChargeType.RECURRING, billing_period=BillingPeriod.MONTH)
    memo = charge_memo(account(), [charge_line(charge, "10")], memo_date=dt.date(2028, 2, 29))
    item = memo.items.get()
    assert (item.service_start, item.service_end) == (dt.date(2028, 2, 1), dt.date(2028, 2, 29))


def test_service_period_of_a_one_time_charge_is_the_accounts_current_month(operator):
    charge = ChargeFactory(charge_type=ChargeType.ONE_TIME)
    memo = charge_memo(account(), [charge_line(charge, "10")], memo_date=MEMO_DATE)
    item = memo.items.get()
    assert (item.service_start, item.service_end) == (dt.date(2025, 3, 1), dt.date(2025, 3, 31))


def test_service_period_of_the_default_memo_date_is_todays(operator):
    charge = ChargeFactory(charge_type=ChargeType.ONE_TIME)
    memo = charge_memo(account(), [charge_line(charge, "10")], memo_date=None)
    today = timezone.localdate()
    assert memo.memo_date == today
    item = memo.items.get()
    assert item.service_start == today.replace(day=1) and item.service_start <= today
    assert item.service_end >= today


def test_a_typed_service_period_is_kept(operator):
    charge = ChargeFactory(billing_period=BillingPeriod.MONTH)
    memo = charge_memo(
        account(),
        [
            charge_line(
                charge, "10", service_start=dt.date(2025, 1, 15), service_end=dt.date(2025, 2, 14)
            )
        ],
    )
    item = memo.items.get()
    assert (item.service_start, item.service_end) == (dt.date(2025, 1, 15), dt.date(2025, 2, 14))


def test_a_one_day_service_period_is_allowed(operator):
    day = dt.date(2025, 2, 1)
    memo = charge_memo(
        account(), [charge_line(ChargeFactory(), "10", service_start=day, service_end=day)]
    )
    assert (memo.items.get().service_start, memo.items.get().service_end) == (day, day)


def test_a_service_end_before_its_start_is_refused(operator):
    with refused() as info:
        charge_memo(
            account(),
            [
                charge_line(
                    ChargeFactory(),
                    "10",
                    key="p",
                    service_start=dt.date(2025, 3, 10),
                    service_end=dt.date(2025, 3, 9),
                )
            ],
        )
    assert one_error(info, "p") == "The service end date cannot be before the service start date."


def test_a_service_end_before_the_default_start_is_refused(operator):
    """Only the end typed: the start defaults to the period's, and the end is before it."""
    charge = ChargeFactory(billing_period=BillingPeriod.MONTH)
    with refused() as info:
        charge_memo(
            account(),
            [charge_line(charge, "10", key="p", service_end=dt.date(2025, 2, 28))],
            memo_date=MEMO_DATE,
        )
    assert one_error(info, "p") == "The service end date cannot be before the service start date."


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_charges_memo_date_in_a_closed_period_is_refused(memo_type, operator):
    AccountingPeriodFactory(
        name="Q1 2025",
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2025, 3, 31),
        status=PeriodStatus.CLOSED,
    )
    with refused() as info:
        charge_memo(
            account(), [charge_line(ChargeFactory(), "10")], memo_type=memo_type, actor=operator
        )
    assert "is in the closed accounting period Q1 2025" in one_error(info, "memo_date")
    # After the period it is fine.
    memo = charge_memo(
        account(), [charge_line(ChargeFactory(), "10")], memo_date=dt.date(2025, 4, 1)
    )
    assert memo.memo_date == dt.date(2025, 4, 1)


def test_charges_reason_code_of_the_wrong_type_is_refused(operator):
    with refused() as info:
        charge_memo(
            account(),
            [charge_line(ChargeFactory(), "10")],
            memo_type=DEBIT,
            reason_code=reason(ReasonCodeType.CREDIT_MEMO, "Write-off"),
        )
    assert one_error(info, "reason_code") == "Write-off is not a Debit memo reason code."


def test_charges_need_at_least_one_line(operator):
    with refused() as info:
        charge_memo(account(), [])
    assert one_error(info, "__all__") == "Select at least one item."


def test_charges_memo_at_most_1000_lines(operator):
    charge = ChargeFactory(taxable=False)
    lines = [charge_line(charge, "1") for _ in range(MAX_ITEMS + 1)]
    with refused() as info:
        charge_memo(account(), lines)
    assert one_error(info, "__all__") == "A memo can have at most 1,000 items; this one has 1,001."


def test_currency_is_the_accounts(operator):
    acct = account("KWD")
    memo = charge_memo(acct, [charge_line(ChargeFactory(), "1.234")])
    assert memo.currency.code == "KWD"
    item = memo.items.get()
    assert (item.amount_excl_tax, item.tax_amount) == (D("1.234"), D("0.123"))


def test_an_untaxed_charge_has_no_tax(operator):
    charge = ChargeFactory(taxable=False)
    assert charge.tax_code is None
    memo = charge_memo(account(), [charge_line(charge, "99.99")])
    item = memo.items.get()
    assert (item.tax_code, item.tax_amount, item.amount) == (None, D(0), D("99.99"))
    assert memo.tax_amount == 0


def test_an_untaxed_charge_ignores_a_tax_code_it_still_has(operator):
    """taxable=False wins even if a tax code is set on the charge."""
    charge = ChargeFactory(taxable=False)
    charge.tax_code = TaxCodeFactory(code="OLD")
    TaxRateFactory(tax_code=charge.tax_code, rate=D("20"))
    charge.save()
    memo = charge_memo(account(), [charge_line(charge, "50")])
    assert (memo.items.get().tax_code, memo.tax_amount) == (None, D(0))


def test_charges_tax_uses_the_memo_dates_rate(operator):
    charge = ChargeFactory()
    TaxRateFactory(tax_code=charge.tax_code, rate=D("20"), effective_from=dt.date(2025, 3, 15))
    before = charge_memo(account(), [charge_line(charge, "100")], memo_date=dt.date(2025, 3, 14))
    after = charge_memo(account(), [charge_line(charge, "100")], memo_date=dt.date(2025, 3, 15))
    assert (before.tax_amount, after.tax_amount) == (D("10"), D("20"))


def test_jpy_amounts_have_no_decimals(operator):
    acct = account("JPY")
    memo = charge_memo(acct, [charge_line(ChargeFactory(), "1005")])
    assert memo.currency.code == "JPY"
    # 100.5 rounds half up to 101.
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == (D(1005), D(101), D(1106))
    with refused() as info:
        charge_memo(acct, [charge_line(ChargeFactory(), "1005.50", key="j")])
    assert one_error(info, "j") == (
        "Amount 1005.50 has too many decimals: JPY amounts allow no decimals."
    )


def test_charges_tax_included_and_typed_tax(operator):
    acct = account()
    charge = ChargeFactory()
    memo = charge_memo(acct, [charge_line(charge, "100", tax_mode=INCLUSIVE)])
    item = memo.items.get()
    assert (item.amount_excl_tax, item.tax_amount, item.amount) == (
        D("90.91"),
        D("9.09"),
        D("100"),
    )
    typed = charge_memo(
        acct, [charge_line(charge, "100", tax_amount=D("3"))], tax_auto_calculation=False
    )
    assert (typed.tax_amount, typed.amount) == (D("3"), D("103"))
    with refused() as info:
        charge_memo(
            acct,
            [charge_line(charge, "100", key="i", tax_mode=INCLUSIVE)],
            tax_auto_calculation=False,
        )
    assert one_error(info, "i") == "Tax-Included needs tax auto-calculation."


def test_charges_zero_and_negative_amounts(operator):
    acct = account()
    charge = ChargeFactory()
    with refused() as info:
        charge_memo(acct, [charge_line(charge, "0", key="z"), charge_line(charge, "-1", key="n")])
    assert info.value.message_dict == {
        "z": [ZERO_ROW],
        "n": ["Amount cannot be negative: the memo type gives the direction."],
    }
    memo = charge_memo(
        acct, [charge_line(charge, "0", tax_amount=D("4"))], tax_auto_calculation=False
    )
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == (D(0), D(4), D(4))


# --- idempotency ---------------------------------------------------------------------------------


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_the_same_idempotency_key_from_an_invoice_creates_one_memo(memo_type, operator):
    invoice = posted_invoice("100")
    first = from_invoice(invoice, memo_type=memo_type, idempotency_key="form-1", actor=operator)
    second = from_invoice(invoice, memo_type=memo_type, idempotency_key="form-1", actor=operator)
    assert second.pk == first.pk
    assert second.number == first.number
    assert Memo.objects.count() == 1
    assert MemoItem.objects.count() == 1
    assert MemoEvent.objects.count() == 1
    key = NumberSeries.Key.CREDIT_MEMO if memo_type == CREDIT else NumberSeries.Key.DEBIT_MEMO
    assert last_number(key) == 1
    # A new key is a new memo.
    third = from_invoice(invoice, memo_type=memo_type, idempotency_key="form-2", actor=operator)
    assert third.pk != first.pk
    assert last_number(key) == 2


def test_the_same_idempotency_key_from_charges_creates_one_memo(operator):
    acct = account()
    lines = [charge_line(ChargeFactory(), "10")]
    first = charge_memo(acct, lines, idempotency_key="form-1", actor=operator)
    second = charge_memo(acct, lines, idempotency_key="form-1", actor=operator)
    assert second.pk == first.pk
    assert Memo.objects.count() == 1
    assert last_number(NumberSeries.Key.CREDIT_MEMO) == 1


def test_an_idempotent_retry_is_answered_even_if_it_would_now_be_refused(operator):
    """The retry returns the memo the first submit made, not a validation error."""
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    first = from_invoice(invoice, [row(item, "100")], idempotency_key="k", actor=operator)
    set_status(first, MemoStatus.POSTED)  # now nothing is left to credit on the item
    again = from_invoice(invoice, [row(item, "100")], idempotency_key="k", actor=operator)
    assert again.pk == first.pk
    assert Memo.objects.count() == 1


def test_without_an_idempotency_key_each_call_creates_a_memo(operator):
    invoice = posted_invoice("100")
    for key in (None, ""):
        from_invoice(invoice, idempotency_key=key, actor=operator)
    assert Memo.objects.count() == 2
    assert set(Memo.objects.values_list("idempotency_key", flat=True)) == {None}


def test_errors_helper_reports_non_field_errors(operator):
    """Sanity check of the helper used above: a non-keyed error has no message dict."""
    invoice = posted_invoice("100", post=False)
    with refused() as info:
        from_invoice(invoice, actor=operator)
    assert not hasattr(info.value, "error_dict")
    assert len(errors_of(info)) == 1
