"""Tax of created memos (DOMAIN.md 2.6): the third-party engine (a real local HTTP server, see
tests/tax_engine_server.py) on create and on "Recalculate tax", and the built-in recalculation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from billing.factories import ChargeFactory, TaxCodeFactory, TaxRateFactory
from billing.models import BillingSettings, InvoiceItem, NumberSeries, TaxEngine, TaxMode
from memos.models import Memo, MemoEvent, MemoStatus, MemoType, TaxStatus
from memos.services import ChargeLine, create_memo_from_charges, creation, recalculate_tax
from tests.memos.creation_helpers import (
    MEMO_DATE,
    D,
    account,
    db_state,
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
REFUSED = "The tax engine refused the request: Address could not be validated"
TIMED_OUT = "The tax engine did not answer within 0.5 seconds"


def calculations(server) -> list[dict]:
    return [r["body"] for r in server.requests if r["path"] == "/calculate"]


def voids(server) -> list[str]:
    return [r["body"]["document_number"] for r in server.requests if r["path"] == "/void"]


def invoice_taxed_at(rate: str, *amounts: str, code: str = "USD"):
    """A posted invoice whose items carry a built-in tax code of `rate` percent, so that the
    engine's 10% is told apart from the built-in tax."""
    invoice = posted_invoice(*amounts, code=code)
    tax_code = TaxCodeFactory(code=f"R{rate}")
    TaxRateFactory(tax_code=tax_code, rate=D(rate))
    InvoiceItem.objects.filter(invoice=invoice).update(tax_code=tax_code)
    return invoice


def items_amounts(memo: Memo) -> list[tuple]:
    return [(i.amount_excl_tax, i.tax_amount, i.amount) for i in memo.items.order_by("sort_order")]


def decimals(values: dict) -> dict:
    """An event's before/after with its amounts (stored as strings) read back as Decimals."""
    return {k: D(v) if k in ("tax_amount", "amount") else v for k, v in values.items()}


def use_built_in_engine() -> None:
    settings = BillingSettings.load()
    settings.tax_engine = TaxEngine.BUILT_IN
    settings.save()


# --- create: success -----------------------------------------------------------------------------


def test_success_taxes_the_memo_by_the_engine(tax_engine, operator):
    invoice = invoice_taxed_at("25", "100", "200")
    first, second = items_of(invoice)
    memo = from_invoice(invoice, [row(first, "100"), row(second, "50.05")], actor=operator)
    memo.refresh_from_db()
    assert memo.taxed_by_third_party is True
    assert memo.tax_status == TaxStatus.COMPLETE
    assert memo.get_tax_status_display() == "Complete"
    assert memo.tax_message == ""
    # The engine's 10% (rounded per line), not the built-in 25%.
    assert items_amounts(memo) == [
        (D("100.00"), D("10.00"), D("110.00")),
        (D("50.05"), D("5.01"), D("55.06")),
    ]
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == (
        D("150.05"),
        D("15.01"),
        D("165.06"),
    )
    assert memo.unapplied_amount == memo.amount
    assert memo.status == MemoStatus.DRAFT
    assert memo.number == "CM00000001"
    event = memo.events.get()
    assert event.kind == MemoEvent.Kind.CREATED
    assert event.after["tax_status"] == "Complete"


def test_the_engine_is_sent_the_memo_lines(tax_engine, operator):
    invoice = invoice_taxed_at("25", "100", "200")
    first, second = items_of(invoice)
    memo = from_invoice(
        invoice,
        [row(first, "100", description="Refund"), row(second, "55", tax_mode=INCLUSIVE)],
        actor=operator,
    )
    [body] = calculations(tax_engine)
    # Sent before the memo had a number: by a reference of its own, kept on the memo.
    assert memo.tax_reference
    assert body["document_number"] == memo.tax_reference
    assert body["document_date"] == MEMO_DATE.isoformat()
    assert body["currency"] == "USD"
    assert body["account_number"] == invoice.account.number
    assert body["commit"] is True
    assert body["lines"] == [
        {
            "key": "1",
            "amount": "100.00",
            "mode": "exclusive",
            "tax_code": "R25",
            "description": "Refund",
        },
        {
            "key": "2",
            "amount": "55.00",
            "mode": "inclusive",
            "tax_code": "R25",
            "description": second.charge_name,
        },
    ]
    assert items_amounts(memo)[1] == (D("50.00"), D("5.00"), D("55.00"))


@pytest.mark.parametrize(
    ("code", "typed", "net", "tax"),
    [("USD", "100", "90.91", "9.09"), ("JPY", "1000", "909", "91"), ("KWD", "1", "0.909", "0.091")],
)
def test_success_splits_tax_included_amounts_exactly(tax_engine, code, typed, net, tax, operator):
    invoice = posted_invoice("5000", code=code)
    memo = from_invoice(
        invoice, [row(items_of(invoice)[0], typed, tax_mode=INCLUSIVE)], actor=operator
    )
    assert memo.tax_status == TaxStatus.COMPLETE
    assert items_amounts(memo) == [(D(net), D(tax), D(typed))]
    assert memo.amount == D(typed)


def test_success_for_a_memo_from_charges(tax_engine, operator):
    acct = account("JPY")
    memo = create_memo_from_charges(
        account=acct,
        memo_type=DEBIT,
        lines=[ChargeLine(charge=ChargeFactory(), amount=D("1005"))],
        memo_date=MEMO_DATE,
        actor=operator,
    )
    assert memo.taxed_by_third_party is True
    assert memo.tax_status == TaxStatus.COMPLETE
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == (D(1005), D(101), D(1106))
    assert memo.balance == memo.amount
    assert memo.items.get().balance == memo.amount
    [body] = calculations(tax_engine)
    assert (body["currency"], body["document_date"]) == ("JPY", MEMO_DATE.isoformat())


def test_the_engine_taxes_codes_the_built_in_engine_has_no_rate_for(tax_engine, operator):
    """With the third-party engine the tax codes are the engine's: the built-in rates do not
    matter (a code without a built-in rate is not an error)."""
    engine_code = TaxCodeFactory(code="AVALARA-P0000000")
    charge = ChargeFactory(tax_code=engine_code)
    memo = create_memo_from_charges(
        account=account(),
        memo_type=CREDIT,
        lines=[ChargeLine(charge=charge, amount=D("80"))],
        memo_date=MEMO_DATE,
        actor=operator,
    )
    assert memo.tax_status == TaxStatus.COMPLETE
    assert (memo.tax_amount, memo.amount) == (D("8.00"), D("88.00"))
    assert calculations(tax_engine)[0]["lines"][0]["tax_code"] == "AVALARA-P0000000"


def test_with_auto_calculation_off_the_engine_is_not_called(tax_engine, operator):
    invoice = posted_invoice("100")
    memo = from_invoice(
        invoice,
        [row(items_of(invoice)[0], "100", tax_amount=D("3"))],
        tax_auto_calculation=False,
        actor=operator,
    )
    assert tax_engine.requests == []
    assert memo.taxed_by_third_party is False
    assert memo.tax_status == TaxStatus.NONE
    assert (memo.tax_amount, memo.amount) == (D("3"), D("103"))


def test_a_refused_create_voids_the_tax_committed_for_it(tax_engine, operator):
    """The engine is called before the availability check under the invoice lock; a memo then
    refused leaves no committed tax at the engine."""
    invoice = posted_invoice("100")
    with refused() as info:
        from_invoice(invoice, [row(items_of(invoice)[0], "100.01", key="r")], actor=operator)
    assert one_error(info, "r") == "At most 110.00 available to credit on this item."
    [body] = calculations(tax_engine)
    assert voids(tax_engine) == [body["document_number"]]


def test_a_row_error_calls_no_engine(tax_engine, operator):
    invoice = posted_invoice("100")
    with refused():
        from_invoice(invoice, [row(items_of(invoice)[0], "-1")], actor=operator)
    assert tax_engine.requests == []


def test_a_duplicate_submit_that_loses_the_race_voids_its_tax(tax_engine, operator, monkeypatch):
    """Two submits with one idempotency key: the second passes the early look-up (the first was
    not committed yet), gets its tax committed, then meets the first memo at insert. It returns
    the first memo, consumes no number, and voids the tax it committed."""
    invoice = posted_invoice("100")
    first = from_invoice(invoice, idempotency_key="form-1", actor=operator)
    real = creation._existing_memo
    calls = []

    def not_yet_committed(key):
        calls.append(key)
        return None if len(calls) == 1 else real(key)

    monkeypatch.setattr(creation, "_existing_memo", not_yet_committed)
    before = db_state()
    again = from_invoice(invoice, idempotency_key="form-1", actor=operator)
    assert again.pk == first.pk
    assert db_state() == before
    assert last_number(NumberSeries.Key.CREDIT_MEMO) == 1
    first_ref, second_ref = (body["document_number"] for body in calculations(tax_engine))
    assert first_ref == first.tax_reference
    assert voids(tax_engine) == [second_ref]


# --- create: error and timeout -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "message"), [("error", REFUSED), ("timeout", TIMED_OUT)], ids=["error", "timeout"]
)
@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_a_failed_engine_call_still_saves_a_draft(tax_engine, mode, message, memo_type, operator):
    tax_engine.mode = mode
    invoice = invoice_taxed_at("25", "100", "200")
    first, second = items_of(invoice)
    memo = from_invoice(
        invoice,
        [row(first, "100"), row(second, "55", tax_mode=INCLUSIVE)],
        memo_type=memo_type,
        actor=operator,
    )
    memo.refresh_from_db()
    assert memo.status == MemoStatus.DRAFT
    assert memo.number == ("CM00000001" if memo_type == CREDIT else "DM00000001")
    assert memo.taxed_by_third_party is True
    assert memo.tax_status == TaxStatus.ERROR
    assert memo.get_tax_status_display() == "Error"
    assert memo.tax_message == message
    # The amounts typed, without tax (neither the engine's nor the built-in 25%).
    assert items_amounts(memo) == [
        (D("100.00"), D("0"), D("100.00")),
        (D("55.00"), D("0"), D("55.00")),
    ]
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == (D("155"), D("0"), D("155"))
    if memo_type == DEBIT:
        assert memo.balance == memo.amount
    else:
        assert memo.unapplied_amount == memo.amount
    event = memo.events.get()
    assert event.kind == MemoEvent.Kind.CREATED
    assert event.actor == operator
    assert event.after["tax_status"] == "Error"
    assert voids(tax_engine) == []


def test_the_engines_own_reason_is_the_tax_message(tax_engine, operator):
    tax_engine.mode = "error"
    tax_engine.error_status = 400
    tax_engine.error_message = "Tax code R25 is unknown"
    memo = from_invoice(posted_invoice("100"), actor=operator)
    assert memo.tax_message == "The tax engine refused the request: Tax code R25 is unknown"


def test_no_engine_url_is_an_error_status_too(tax_engine, operator, monkeypatch):
    # The settings refuse this state (a constraint); the connector still answers it in words.
    settings = BillingSettings.load()
    settings.tax_engine_url = ""
    monkeypatch.setattr(BillingSettings, "load", classmethod(lambda cls: settings))
    memo = from_invoice(posted_invoice("100"), actor=operator)
    assert memo.tax_status == TaxStatus.ERROR
    assert memo.tax_message == "No tax engine URL is configured in the billing settings."


# --- recalculate tax -----------------------------------------------------------------------------


@pytest.mark.parametrize("first_mode", ["error", "timeout"])
def test_recalculate_after_a_failure_completes_the_tax(tax_engine, first_mode, operator):
    tax_engine.mode = first_mode
    invoice = invoice_taxed_at("25", "100", "200")
    first, second = items_of(invoice)
    memo = from_invoice(
        invoice, [row(first, "100"), row(second, "55", tax_mode=INCLUSIVE)], actor=operator
    )
    assert memo.tax_status == TaxStatus.ERROR
    tax_engine.mode = "success"
    result = recalculate_tax(memo=memo, actor=operator)
    memo.refresh_from_db()
    assert result.pk == memo.pk
    assert memo.status == MemoStatus.DRAFT
    assert memo.tax_status == TaxStatus.COMPLETE
    assert memo.tax_message == ""
    assert items_amounts(memo) == [
        (D("100.00"), D("10.00"), D("110.00")),
        (D("50.00"), D("5.00"), D("55.00")),
    ]
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == (
        D("150.00"),
        D("15.00"),
        D("165.00"),
    )
    assert memo.unapplied_amount == memo.amount
    last = calculations(tax_engine)[-1]
    assert last["document_number"] == memo.tax_reference
    assert [line["amount"] for line in last["lines"]] == ["100.00", "55.00"]
    event = memo.events.get(kind=MemoEvent.Kind.TAX_RECALCULATED)
    assert event.actor == operator
    assert decimals(event.before) == {"tax_amount": D(0), "amount": D(155), "tax_status": "Error"}
    assert decimals(event.after) == {
        "tax_amount": D(15),
        "amount": D(165),
        "tax_status": "Complete",
    }


def test_recalculate_a_debit_memo_updates_its_balance(tax_engine, operator):
    tax_engine.mode = "error"
    memo = from_invoice(posted_invoice("100"), memo_type=DEBIT, actor=operator)
    assert memo.balance == D("100")
    tax_engine.mode = "success"
    recalculate_tax(memo=memo, actor=operator)
    memo.refresh_from_db()
    assert (memo.amount, memo.balance) == (D("110"), D("110"))
    assert memo.items.get().balance == D("110")


def test_recalculate_that_fails_again_keeps_the_error(tax_engine, operator):
    tax_engine.mode = "error"
    memo = from_invoice(posted_invoice("100"), actor=operator)
    tax_engine.error_message = "Service unavailable"
    recalculate_tax(memo=memo, actor=operator)
    memo.refresh_from_db()
    assert memo.tax_status == TaxStatus.ERROR
    assert memo.tax_message == "The tax engine refused the request: Service unavailable"
    assert (memo.tax_amount, memo.amount) == (D("0"), D("100"))
    event = memo.events.get(kind=MemoEvent.Kind.TAX_RECALCULATED)
    assert event.message == memo.tax_message
    assert event.after["tax_status"] == "Error"


def test_recalculate_a_complete_memo_is_idempotent(tax_engine, operator):
    memo = from_invoice(posted_invoice("100"), actor=operator)
    amounts = items_amounts(memo)
    recalculate_tax(memo=memo, actor=operator)
    memo.refresh_from_db()
    assert memo.tax_status == TaxStatus.COMPLETE
    assert items_amounts(memo) == amounts
    assert memo.amount == D("110.00")


@pytest.mark.parametrize("status", [MemoStatus.POSTED, MemoStatus.CANCELED])
def test_recalculate_is_refused_on_a_memo_that_is_not_a_draft(tax_engine, status, operator):
    tax_engine.mode = "error"
    memo = from_invoice(posted_invoice("100"), actor=operator)
    Memo.objects.filter(pk=memo.pk).update(status=status)
    tax_engine.mode = "success"
    sent = len(tax_engine.requests)
    with refused() as info:
        recalculate_tax(memo=memo, actor=operator)
    label = "Posted" if status == MemoStatus.POSTED else "Canceled"
    assert one_error(info) == f"{memo.number} is {label}: only drafts can be recalculated."
    memo.refresh_from_db()
    assert (memo.tax_status, memo.amount) == (TaxStatus.ERROR, D("100"))
    assert len(tax_engine.requests) == sent


def test_recalculate_is_refused_with_tax_typed_by_hand(operator):
    invoice = posted_invoice("100")
    memo = from_invoice(
        invoice,
        [row(items_of(invoice)[0], "100", tax_amount=D("1"))],
        tax_auto_calculation=False,
        actor=operator,
    )
    with refused() as info:
        recalculate_tax(memo=memo, actor=operator)
    assert "auto-calculation is off" in one_error(info)


def test_recalculate_reads_the_memo_again_under_lock(tax_engine, operator):
    """A stale in-memory Draft that was posted meanwhile is refused."""
    tax_engine.mode = "error"
    memo = from_invoice(posted_invoice("100"), actor=operator)
    Memo.objects.filter(pk=memo.pk).update(status=MemoStatus.POSTED)
    assert memo.status == MemoStatus.DRAFT  # the caller's copy
    with pytest.raises(ValidationError):
        recalculate_tax(memo=memo, actor=operator)


def test_recalculate_by_the_built_in_engine_after_switching_engines(tax_engine, operator):
    """An engine failure, then the tenant goes back to the built-in engine: recalculating taxes
    the memo by the built-in rates, and the memo is no longer one taxed by the engine (its Tax
    Status would otherwise stay Error with no way to clear it)."""
    tax_engine.mode = "error"
    invoice = invoice_taxed_at("25", "100")
    # Part of the item: the whole rest would take the rest of the item's tax, whatever the rate.
    memo = from_invoice(invoice, [row(items_of(invoice)[0], "40")], actor=operator)
    assert memo.tax_status == TaxStatus.ERROR
    use_built_in_engine()
    recalculate_tax(memo=memo, actor=operator)
    memo.refresh_from_db()
    assert (memo.tax_amount, memo.amount) == (D("10.00"), D("50.00"))
    assert memo.taxed_by_third_party is False
    assert (memo.tax_status, memo.tax_message) == (TaxStatus.NONE, "")


def test_switching_to_the_built_in_engine_voids_the_engines_committed_tax(
    tax_engine, operator, django_capture_on_commit_callbacks
):
    invoice = invoice_taxed_at("25", "100")
    memo = from_invoice(invoice, [row(items_of(invoice)[0], "40")], actor=operator)
    assert memo.tax_status == TaxStatus.COMPLETE
    use_built_in_engine()
    with django_capture_on_commit_callbacks(execute=True):
        recalculate_tax(memo=memo, actor=operator)
    memo.refresh_from_db()
    assert (memo.tax_amount, memo.taxed_by_third_party, memo.tax_status) == (
        D("10.00"),
        False,
        TaxStatus.NONE,
    )
    assert voids(tax_engine) == [memo.tax_reference]


# --- built-in recalculation ----------------------------------------------------------------------


def test_built_in_recalculation_keeps_amounts_consistent(operator):
    invoice = posted_invoice("100", "200", "300")
    first, second, third = items_of(invoice)
    memo = from_invoice(
        invoice,
        [row(first, "33.33"), row(second, "110", tax_mode=INCLUSIVE), row(third, "0.05")],
        memo_type=DEBIT,
        actor=operator,
    )
    original = items_amounts(memo)
    assert original == [
        (D("33.33"), D("3.33"), D("36.66")),
        (D("100.00"), D("10.00"), D("110.00")),
        (D("0.05"), D("0.01"), D("0.06")),
    ]
    # The rate on the invoice date is corrected to 20% (a data fix): recalculate picks it up.
    first.tax_code.rates.update(rate=D("20"))
    result = recalculate_tax(memo=memo, actor=operator)
    memo.refresh_from_db()
    items = list(memo.items.order_by("sort_order"))
    assert items_amounts(memo) == [
        (D("33.33"), D("6.67"), D("40.00")),  # exclusive: the net stays, tax on top
        (D("91.67"), D("18.33"), D("110.00")),  # inclusive: the gross stays, split again
        (D("0.05"), D("0.01"), D("0.06")),
    ]
    for item in items:
        assert item.amount == item.amount_excl_tax + item.tax_amount
        assert item.balance == item.amount
    assert memo.amount_excl_tax == sum(i.amount_excl_tax for i in items) == D("125.05")
    assert memo.tax_amount == sum(i.tax_amount for i in items) == D("25.01")
    assert memo.amount == memo.amount_excl_tax + memo.tax_amount == D("150.06")
    assert memo.balance == memo.amount
    assert (result.amount, result.balance) == (memo.amount, memo.balance)
    assert memo.taxed_by_third_party is False
    assert memo.tax_status == TaxStatus.NONE
    event = memo.events.get(kind=MemoEvent.Kind.TAX_RECALCULATED)
    assert event.message == "Tax recalculated"
    assert decimals(event.before) == {
        "tax_amount": D("13.34"),
        "amount": D("146.72"),
        "tax_status": "-",
    }
    assert decimals(event.after) == {
        "tax_amount": D("25.01"),
        "amount": D("150.06"),
        "tax_status": "-",
    }


def test_built_in_recalculation_without_changes_changes_nothing(operator):
    acct = account("KWD")
    memo = create_memo_from_charges(
        account=acct,
        memo_type=CREDIT,
        lines=[
            ChargeLine(charge=ChargeFactory(), amount=D("1.005")),
            ChargeLine(charge=ChargeFactory(), amount=D("2.000"), tax_mode=INCLUSIVE),
        ],
        memo_date=MEMO_DATE,
        actor=operator,
    )
    amounts = items_amounts(memo)
    totals = (memo.amount_excl_tax, memo.tax_amount, memo.amount)
    recalculate_tax(memo=memo, actor=operator)
    memo.refresh_from_db()
    assert items_amounts(memo) == amounts
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == totals
    assert memo.unapplied_amount == memo.amount


def test_built_in_recalculation_of_a_charges_memo_uses_the_memo_date(operator):
    charge = ChargeFactory()
    memo = create_memo_from_charges(
        account=account(),
        memo_type=CREDIT,
        lines=[ChargeLine(charge=charge, amount=D("100"))],
        memo_date=dt.date(2025, 6, 1),
        actor=operator,
    )
    assert memo.tax_amount == D("10")
    TaxRateFactory(tax_code=charge.tax_code, rate=D("15"), effective_from=dt.date(2025, 5, 1))
    recalculate_tax(memo=memo, actor=operator)
    memo.refresh_from_db()
    assert (memo.tax_amount, memo.amount) == (D("15"), D("115"))


def test_built_in_recalculation_of_an_invoice_memo_uses_the_invoice_date(operator):
    invoice = posted_invoice("100")
    memo = from_invoice(invoice, memo_date=dt.date(2025, 6, 1), actor=operator)
    item = items_of(invoice)[0]
    TaxRateFactory(tax_code=item.tax_code, rate=D("15"), effective_from=dt.date(2025, 5, 1))
    recalculate_tax(memo=memo, actor=operator)
    memo.refresh_from_db()
    assert memo.tax_amount == D("10.00")
