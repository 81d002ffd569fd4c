"""The memo lifecycle (DOMAIN.md 2.1, 2.4, 2.5, 2.6): post, unpost ("Cancel Post"), cancel,
delete, header edits and Transferred to Accounting; every guard, every refusal leaving the
database as it was, and concurrent transitions on one memo (PostgreSQL)."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from billing.factories import AccountingPeriodFactory, ChargeFactory
from billing.models import BillingSettings, CreditValidationLevel, PeriodStatus
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
    TransferStatus,
)
from memos.services import ChargeLine, create_memo_from_charges, recalculate_tax
from memos.services.lifecycle import (
    ALLOWED_TRANSITIONS,
    cancel_memo,
    delete_memo,
    post_memo,
    set_transferred_to_accounting,
    unpost_memo,
    update_memo_header,
)
from tests.memos.creation_helpers import (
    INVOICE_DATE,
    MEMO_DATE,
    D,
    account,
    db_state,
    errors_of,
    from_invoice,
    items_of,
    one_error,
    posted_invoice,
    row,
)

pytestmark = pytest.mark.django_db

CREDIT, DEBIT = MemoType.CREDIT, MemoType.DEBIT
DRAFT, POSTED, CANCELED = MemoStatus.DRAFT, MemoStatus.POSTED, MemoStatus.CANCELED
Kind = MemoEvent.Kind
TAX_REFUSED = "The tax engine refused the request: Address could not be validated"


# --- builders ------------------------------------------------------------------------------------


def invoice_memo(memo_type: str = CREDIT, *amounts: str, **kwargs) -> Memo:
    """A Draft memo from a new posted invoice, every item in full (USD 100 + 10% tax by
    default: amount 110.00)."""
    return from_invoice(posted_invoice(*(amounts or ("100",))), memo_type=memo_type, **kwargs)


def charges_memo(memo_type: str = CREDIT, amount: str = "10", **kwargs) -> Memo:
    """A standalone Draft memo from one catalog charge (10 + 10% tax: amount 11.00)."""
    return create_memo_from_charges(
        account=kwargs.pop("on_account", None) or account(),
        memo_type=memo_type,
        lines=[ChargeLine(charge=ChargeFactory(), amount=D(amount))],
        memo_date=kwargs.pop("memo_date", MEMO_DATE),
        actor=kwargs.pop("actor", None),
        **kwargs,
    )


def memo_in(status: str, memo_type: str = CREDIT, source: str = MemoSource.INVOICE) -> Memo:
    """A memo brought to `status` by the services themselves."""
    memo = invoice_memo(memo_type) if source == MemoSource.INVOICE else charges_memo(memo_type)
    if status == POSTED:
        post_memo(memo=memo, actor=None)
    elif status == CANCELED:
        cancel_memo(memo=memo, actor=None)
    return fresh(memo)


def fresh(memo: Memo) -> Memo:
    return Memo.objects.get(pk=memo.pk)


def closed_period(start: dt.date, end: dt.date, name: str = "Mar 2025"):
    return AccountingPeriodFactory(
        name=name, start_date=start, end_date=end, status=PeriodStatus.CLOSED
    )


def close_march_2025():
    return closed_period(dt.date(2025, 3, 1), dt.date(2025, 3, 31))


def reason(code_type: str, name: str) -> ReasonCode:
    return ReasonCode.objects.get(code_type=code_type, name=name)


def set_validation_level(level: str) -> None:
    settings = BillingSettings.load()
    settings.credit_validation_level = level
    settings.save()


def events(memo: Memo, kind: str | None = None) -> list[MemoEvent]:
    qs = MemoEvent.objects.filter(memo_id=memo.pk).order_by("id")
    if kind is not None:
        qs = qs.filter(kind=kind)
    return list(qs)


def last_event(memo: Memo) -> MemoEvent:
    return events(memo)[-1]


def voids(server) -> list[str]:
    return [r["body"]["document_number"] for r in server.requests if r["path"] == "/void"]


# --- refusals leave everything as it was ---------------------------------------------------------


def snapshot(memo: Memo) -> dict:
    """Everything a refused lifecycle call must leave as it was: the memo row (every field,
    updated_at included), its items, its history, and the global counts and number series."""
    return {
        "db": db_state(),
        "memo": Memo.objects.filter(pk=memo.pk).values().get(),
        "items": list(MemoItem.objects.filter(memo_id=memo.pk).order_by("id").values()),
        "events": list(
            MemoEvent.objects.filter(memo_id=memo.pk).order_by("id").values_list("id", flat=True)
        ),
    }


@contextlib.contextmanager
def refused(memo: Memo):
    """`with refused(memo) as info:` expects a ValidationError and checks the memo, its items,
    its history and the rest of the database are unchanged."""
    before = snapshot(memo)
    with pytest.raises(ValidationError) as info:
        yield info
    assert snapshot(memo) == before


# --- the transition table ------------------------------------------------------------------------


def test_the_transition_table_is_the_domain_lifecycle():
    allowed = ALLOWED_TRANSITIONS
    assert allowed == {
        DRAFT: {POSTED, CANCELED},
        POSTED: {DRAFT},
        CANCELED: set(),
    }


SERVICE_FOR_TARGET = {POSTED: post_memo, DRAFT: unpost_memo, CANCELED: cancel_memo}
VERB_FOR_TARGET = {POSTED: "posted", DRAFT: "unposted", CANCELED: "canceled"}


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
@pytest.mark.parametrize("status", [DRAFT, POSTED, CANCELED])
@pytest.mark.parametrize("target", [DRAFT, POSTED, CANCELED])
def test_every_pair_outside_the_table_is_refused(status, target, memo_type, operator):
    memo = memo_in(status, memo_type)
    service = SERVICE_FOR_TARGET[target]
    if target in ALLOWED_TRANSITIONS[status]:
        assert service(memo=memo, actor=operator).status == target
        assert fresh(memo).status == target
        return
    with refused(memo) as info:
        service(memo=memo, actor=operator)
    assert info.value.code == "invalid_transition"
    label = MemoStatus(status).label
    assert one_error(info) == f"{memo.number} is {label}: it cannot be {VERB_FOR_TARGET[target]}."


@pytest.mark.parametrize("status", [DRAFT, POSTED])
def test_only_canceled_memos_can_be_deleted(status, operator):
    memo = memo_in(status)
    with refused(memo) as info:
        delete_memo(memo=memo, actor=operator)
    label = MemoStatus(status).label
    assert one_error(info) == f"{memo.number} is {label}: only canceled memos can be deleted."


# --- post ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
@pytest.mark.parametrize("source", [MemoSource.INVOICE, MemoSource.CHARGES])
def test_post_a_draft(memo_type, source, operator):
    memo = memo_in(DRAFT, memo_type, source)
    result = post_memo(memo=memo, actor=operator)
    assert result.status == POSTED
    memo = fresh(memo)
    assert memo.status == POSTED
    assert memo.posted_at is not None
    if memo_type == DEBIT:
        assert memo.balance == memo.amount
    else:
        assert memo.unapplied_amount == memo.amount
    event = last_event(memo)
    assert event.kind == Kind.POSTED
    assert event.actor == operator
    assert event.before == {"status": "Draft"}
    assert event.after == {"status": "Posted"}


def test_a_debit_memo_balance_is_its_amount_once_posted(operator):
    memo = invoice_memo(DEBIT, "100", "50")
    # Whatever the draft held, posting makes the whole amount owed.
    Memo.objects.filter(pk=memo.pk).update(balance=D("0"))
    post_memo(memo=memo, actor=operator)
    memo = fresh(memo)
    assert memo.amount == D("165.00")
    assert memo.balance == D("165.00")


@pytest.mark.parametrize("status", [POSTED, CANCELED])
def test_post_refuses_a_memo_that_is_not_draft(status, operator):
    memo = memo_in(status)
    with refused(memo) as info:
        post_memo(memo=memo, actor=operator)
    label = MemoStatus(status).label
    assert one_error(info) == f"{memo.number} is {label}: it cannot be posted."


def test_post_refuses_a_tax_error_until_tax_is_recalculated(tax_engine, operator):
    tax_engine.mode = "error"
    memo = charges_memo(actor=operator)
    assert memo.taxed_by_third_party
    assert memo.tax_status == TaxStatus.ERROR
    with refused(memo) as info:
        post_memo(memo=memo, actor=operator)
    assert info.value.code == "tax_error"
    assert one_error(info) == (
        f"{memo.number} has a tax error ({TAX_REFUSED}): recalculate tax before posting."
    )
    # The engine answers again, but the memo is still in error until it is recalculated.
    tax_engine.mode = "success"
    with refused(memo):
        post_memo(memo=memo, actor=operator)
    recalculated = recalculate_tax(memo=memo, actor=operator)
    assert recalculated.tax_status == TaxStatus.COMPLETE
    post_memo(memo=memo, actor=operator)
    memo = fresh(memo)
    assert memo.status == POSTED
    assert memo.tax_status == TaxStatus.COMPLETE
    assert memo.amount == D("11.00")


def test_post_a_memo_with_a_complete_third_party_tax(tax_engine, operator):
    memo = invoice_memo(CREDIT)
    assert memo.tax_status == TaxStatus.COMPLETE
    post_memo(memo=memo, actor=operator)
    assert fresh(memo).status == POSTED


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_post_refuses_a_memo_date_in_a_closed_period(memo_type, operator):
    memo = invoice_memo(memo_type)
    close_march_2025()
    with refused(memo) as info:
        post_memo(memo=memo, actor=operator)
    assert info.value.code == "closed_period"
    assert one_error(info) == (
        "Memo Date 2025-03-20 is in the closed accounting period Mar 2025 "
        "(2025-03-01 to 2025-03-31)."
    )


def test_post_with_a_closed_period_before_the_memo_date(operator):
    memo = invoice_memo(CREDIT)
    closed_period(dt.date(2025, 2, 1), dt.date(2025, 2, 28), name="Feb 2025")
    post_memo(memo=memo, actor=operator)
    assert fresh(memo).status == POSTED


def two_drafts_over_crediting():
    """An invoice of 100 + 10% tax (110.00) and two credit memo drafts of 80 + 8 each: each fits
    alone, both together over-credit it."""
    invoice = posted_invoice("100")
    [item] = items_of(invoice)
    first = from_invoice(invoice, [row(item, "80")])
    second = from_invoice(invoice, [row(item, "80")])
    assert first.amount == second.amount == D("88.00")
    return invoice, item, first, second


def test_post_revalidates_available_to_credit(operator):
    invoice, item, first, second = two_drafts_over_crediting()
    post_memo(memo=first, actor=operator)
    with refused(second) as info:
        post_memo(memo=second, actor=operator)
    assert errors_of(info, f"item:{item.pk}") == ["At most 22.00 available to credit on this item."]
    assert errors_of(info, "__all__") == [
        f"The memo credits USD 88.00, but only USD 22.00 of invoice {invoice.number} is "
        "available to credit."
    ]
    assert fresh(first).status == POSTED


def test_post_revalidates_available_to_credit_at_header_level(operator):
    set_validation_level(CreditValidationLevel.HEADER)
    invoice, _item, first, second = two_drafts_over_crediting()
    post_memo(memo=first, actor=operator)
    with refused(second) as info:
        post_memo(memo=second, actor=operator)
    assert one_error(info, "__all__") == (
        f"The memo credits USD 88.00, but only USD 22.00 of invoice {invoice.number} is "
        "available to credit."
    )


def test_post_does_not_revalidate_with_validation_off(operator):
    set_validation_level(CreditValidationLevel.NONE)
    _invoice, _item, first, second = two_drafts_over_crediting()
    post_memo(memo=first, actor=operator)
    post_memo(memo=second, actor=operator)
    assert fresh(first).status == fresh(second).status == POSTED


def test_post_counts_only_posted_credit(operator):
    """Drafts, canceled credit memos and debit memos take nothing from what is available."""
    invoice = posted_invoice("100")
    [item] = items_of(invoice)
    canceled = from_invoice(invoice, [row(item, "80")])
    cancel_memo(memo=canceled, actor=operator)
    from_invoice(invoice, [row(item, "80")])  # another draft
    debit = from_invoice(invoice, [row(item, "80")], memo_type=DEBIT)
    post_memo(memo=debit, actor=operator)
    memo = from_invoice(invoice, [row(item, "100")])
    post_memo(memo=memo, actor=operator)
    assert fresh(memo).status == POSTED


def test_unpost_gives_back_the_credit_to_another_draft(operator):
    _invoice, _item, first, second = two_drafts_over_crediting()
    post_memo(memo=first, actor=operator)
    unpost_memo(memo=first, actor=operator)
    post_memo(memo=second, actor=operator)
    assert fresh(second).status == POSTED


# --- unpost ("Cancel Post") ----------------------------------------------------------------------


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_unpost_a_posted_memo(memo_type, operator):
    memo = memo_in(POSTED, memo_type)
    assert memo.posted_at is not None
    result = unpost_memo(memo=memo, actor=operator)
    assert result.status == DRAFT
    memo = fresh(memo)
    assert memo.status == DRAFT
    assert memo.posted_at is None
    event = last_event(memo)
    assert event.kind == Kind.UNPOSTED
    assert event.actor == operator
    assert event.before == {"status": "Posted"}
    assert event.after == {"status": "Draft"}
    # And it can be posted again.
    post_memo(memo=memo, actor=operator)
    assert fresh(memo).status == POSTED


@pytest.mark.parametrize("status", [DRAFT, CANCELED])
def test_unpost_refuses_a_memo_that_is_not_posted(status, operator):
    memo = memo_in(status)
    with refused(memo) as info:
        unpost_memo(memo=memo, actor=operator)
    label = MemoStatus(status).label
    assert one_error(info) == f"{memo.number} is {label}: it cannot be unposted."


@pytest.mark.parametrize(
    "applied,refunded",
    [("0.01", "0"), ("0", "0.01"), ("50", "60"), ("110", "0"), ("0", "110")],
)
def test_unpost_refuses_an_applied_or_refunded_credit_memo(applied, refunded, operator):
    memo = memo_in(POSTED, CREDIT)
    assert memo.amount == D("110.00")
    Memo.objects.filter(pk=memo.pk).update(applied_amount=D(applied), refund_amount=D(refunded))
    with refused(memo) as info:
        unpost_memo(memo=memo, actor=operator)
    assert info.value.code == "settled"
    if D(refunded):
        assert one_error(info) == (
            f"{memo.number} has been refunded, and a refund cannot be undone, so its post "
            "cannot be canceled."
        )
    else:
        assert one_error(info) == (
            f"{memo.number} has been applied: unapply it before canceling its post."
        )


@pytest.mark.parametrize("balance", ["0", "10", "109.99"])
def test_unpost_refuses_a_debit_memo_with_credit_applied(balance, operator):
    memo = memo_in(POSTED, DEBIT)
    assert memo.balance == memo.amount == D("110.00")
    Memo.objects.filter(pk=memo.pk).update(balance=D(balance))
    with refused(memo) as info:
        unpost_memo(memo=memo, actor=operator)
    assert info.value.code == "settled"
    assert one_error(info) == f"{memo.number} has credit applied to it: unapply that credit first."


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_unpost_refuses_a_memo_transferred_to_accounting(memo_type, operator, reviewer):
    memo = memo_in(POSTED, memo_type)
    set_transferred_to_accounting(memo=memo, value=TransferStatus.YES, actor=reviewer)
    with refused(memo) as info:
        unpost_memo(memo=memo, actor=operator)
    assert info.value.code == "transferred"
    assert one_error(info) == (
        f"{memo.number} is Transferred to Accounting: Yes, so its post cannot be canceled."
    )


@pytest.mark.parametrize(
    "value",
    [TransferStatus.NO, TransferStatus.PROCESSING, TransferStatus.ERROR, TransferStatus.IGNORE],
)
def test_unpost_a_memo_transferred_to_accounting_other_than_yes(value, operator):
    memo = memo_in(POSTED)
    Memo.objects.filter(pk=memo.pk).update(transferred_to_accounting=value)
    unpost_memo(memo=memo, actor=operator)
    assert fresh(memo).status == DRAFT


def test_unpost_refuses_a_memo_date_in_a_closed_period(operator):
    memo = memo_in(POSTED)
    close_march_2025()
    with refused(memo) as info:
        unpost_memo(memo=memo, actor=operator)
    assert info.value.code == "closed_period"


# --- cancel --------------------------------------------------------------------------------------


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
@pytest.mark.parametrize("source", [MemoSource.INVOICE, MemoSource.CHARGES])
def test_cancel_a_draft(memo_type, source, operator):
    memo = memo_in(DRAFT, memo_type, source)
    result = cancel_memo(memo=memo, actor=operator)
    assert result.status == CANCELED
    memo = fresh(memo)
    assert memo.status == CANCELED
    assert memo.tax_status == TaxStatus.NONE
    event = last_event(memo)
    assert event.kind == Kind.CANCELED
    assert event.actor == operator
    assert event.before == {"status": "Draft"}
    assert event.after == {"status": "Canceled"}


def test_cancel_an_unposted_memo(operator):
    memo = memo_in(POSTED)
    unpost_memo(memo=memo, actor=operator)
    cancel_memo(memo=memo, actor=operator)
    assert fresh(memo).status == CANCELED


@pytest.mark.parametrize("status", [POSTED, CANCELED])
def test_cancel_refuses_a_memo_that_is_not_draft(status, operator):
    memo = memo_in(status)
    with refused(memo) as info:
        cancel_memo(memo=memo, actor=operator)
    label = MemoStatus(status).label
    assert one_error(info) == f"{memo.number} is {label}: it cannot be canceled."


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_cancel_voids_the_tax_committed_to_the_engine(memo_type, tax_engine, operator):
    memo = invoice_memo(memo_type)
    assert memo.taxed_by_third_party
    assert memo.tax_status == TaxStatus.COMPLETE
    assert voids(tax_engine) == []
    cancel_memo(memo=memo, actor=operator)
    assert voids(tax_engine) == [memo.tax_reference]
    memo = fresh(memo)
    assert memo.status == CANCELED
    assert memo.tax_status == TaxStatus.VOIDED
    assert memo.get_tax_status_display() == "Voided"
    event = last_event(memo)
    assert event.kind == Kind.CANCELED
    assert event.before == {"status": "Draft"}
    assert event.after == {"status": "Canceled", "tax_status": "Voided"}


def test_cancel_stays_draft_when_the_engine_cannot_void(tax_engine, operator):
    memo = invoice_memo(CREDIT)
    assert memo.tax_status == TaxStatus.COMPLETE
    tax_engine.mode = "error"
    with refused(memo) as info:
        cancel_memo(memo=memo, actor=operator)
    assert info.value.code == "tax_void_failed"
    assert one_error(info) == (
        f"{memo.number} was not canceled: its tax could not be voided ({TAX_REFUSED})."
    )
    assert voids(tax_engine) == [memo.tax_reference]  # it was asked
    memo = fresh(memo)
    assert (memo.status, memo.tax_status) == (DRAFT, TaxStatus.COMPLETE)
    # Once the engine answers again, the cancel goes through.
    tax_engine.mode = "success"
    cancel_memo(memo=memo, actor=operator)
    assert (fresh(memo).status, fresh(memo).tax_status) == (CANCELED, TaxStatus.VOIDED)


def test_cancel_a_memo_with_a_tax_error_voids_nothing(tax_engine, operator):
    tax_engine.mode = "error"
    memo = charges_memo()
    assert memo.tax_status == TaxStatus.ERROR
    tax_engine.requests.clear()
    cancel_memo(memo=memo, actor=operator)
    assert tax_engine.requests == []
    memo = fresh(memo)
    assert (memo.status, memo.tax_status) == (CANCELED, TaxStatus.ERROR)
    assert last_event(memo).after == {"status": "Canceled"}


# --- delete --------------------------------------------------------------------------------------


def test_delete_a_canceled_memo_removes_it_with_its_items_and_events(operator):
    keep = memo_in(DRAFT)
    memo = invoice_memo(CREDIT, "100", "50")
    cancel_memo(memo=memo, actor=operator)
    assert MemoItem.objects.filter(memo=memo).count() == 2
    assert len(events(memo)) == 2
    before = db_state()
    assert delete_memo(memo=memo, actor=operator) == memo.number
    assert not Memo.objects.filter(pk=memo.pk).exists()
    assert not MemoItem.objects.filter(memo_id=memo.pk).exists()
    assert not MemoEvent.objects.filter(memo_id=memo.pk).exists()
    after = db_state()
    assert after["memos"] == before["memos"] - 1
    assert after["items"] == before["items"] - 2
    assert after["events"] == before["events"] - 2
    # Numbers are never given back.
    assert after["credit_memo_numbers"] == before["credit_memo_numbers"]
    assert Memo.objects.filter(pk=keep.pk).exists()


# --- header edits (DOMAIN.md 2.4) ----------------------------------------------------------------


@pytest.mark.parametrize("status", [DRAFT, POSTED, CANCELED])
@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_comments_change_on_any_status(status, memo_type, operator):
    memo = memo_in(status, memo_type)
    update_memo_header(memo=memo, actor=operator, comments="Customer called")
    memo = fresh(memo)
    assert memo.comments == "Customer called"
    assert memo.status == status
    event = last_event(memo)
    assert event.kind == Kind.UPDATED
    assert event.actor == operator
    assert event.before == {"Comments": ""}
    assert event.after == {"Comments": "Customer called"}
    update_memo_header(memo=memo, actor=operator, comments="")
    assert fresh(memo).comments == ""
    assert last_event(memo).before == {"Comments": "Customer called"}


@pytest.mark.parametrize("status", [DRAFT, POSTED, CANCELED])
def test_no_event_when_nothing_changes(status, operator):
    memo = memo_in(status)
    update_memo_header(memo=memo, actor=operator, comments="Note")
    memo = fresh(memo)
    state = snapshot(memo)
    update_memo_header(memo=memo, actor=operator)
    update_memo_header(
        memo=memo,
        actor=operator,
        comments="Note",
        exclude_from_auto_apply=memo.exclude_from_auto_apply,
    )
    # The current values sent back (as a form does) are no change, whatever the status.
    update_memo_header(
        memo=memo,
        actor=operator,
        memo_date=memo.memo_date,
        reason_code=memo.reason_code,
        auto_pay=memo.auto_pay,
        apply_to_invoice_on_post=memo.apply_to_invoice_on_post,
    )
    assert snapshot(memo) == state


def test_memo_date_changes_on_a_draft(operator):
    memo = invoice_memo(CREDIT)
    update_memo_header(memo=memo, actor=operator, memo_date=dt.date(2025, 4, 2))
    memo = fresh(memo)
    assert memo.memo_date == dt.date(2025, 4, 2)
    event = last_event(memo)
    assert event.kind == Kind.UPDATED
    assert event.before == {"Memo Date": "2025-03-20"}
    assert event.after == {"Memo Date": "2025-04-02"}


def test_memo_date_may_be_the_invoice_date(operator):
    memo = invoice_memo(DEBIT)
    update_memo_header(memo=memo, actor=operator, memo_date=INVOICE_DATE)
    assert fresh(memo).memo_date == INVOICE_DATE


def test_memo_date_of_a_charges_memo_has_no_invoice_date_bound(operator):
    memo = charges_memo()
    update_memo_header(memo=memo, actor=operator, memo_date=dt.date(2020, 1, 1))
    assert fresh(memo).memo_date == dt.date(2020, 1, 1)


def test_memo_date_cannot_change_on_a_posted_memo(operator):
    memo = memo_in(POSTED)
    with refused(memo) as info:
        update_memo_header(memo=memo, actor=operator, memo_date=dt.date(2025, 4, 2))
    assert one_error(info, "memo_date") == "Memo Date can only change on a draft."


def test_memo_date_cannot_change_on_a_canceled_memo(operator):
    memo = memo_in(CANCELED)
    with refused(memo) as info:
        update_memo_header(memo=memo, actor=operator, memo_date=dt.date(2025, 4, 2))
    assert one_error(info) == f"{memo.number} is Canceled: only its comments can change."


def test_memo_date_before_the_invoice_date_is_refused(operator):
    memo = invoice_memo(CREDIT)
    with refused(memo) as info:
        update_memo_header(memo=memo, actor=operator, memo_date=INVOICE_DATE - dt.timedelta(1))
    assert one_error(info, "memo_date") == (
        "Memo Date cannot be before the invoice date 2025-03-10."
    )


def test_memo_date_in_a_closed_period_is_refused(operator):
    memo = invoice_memo(CREDIT)
    closed_period(dt.date(2025, 4, 1), dt.date(2025, 4, 30), name="Apr 2025")
    with refused(memo) as info:
        update_memo_header(memo=memo, actor=operator, memo_date=dt.date(2025, 4, 2))
    assert one_error(info, "memo_date") == (
        "Memo Date 2025-04-02 is in the closed accounting period Apr 2025 "
        "(2025-04-01 to 2025-04-30)."
    )


def test_a_refused_field_refuses_the_whole_edit(operator):
    memo = memo_in(POSTED)
    with refused(memo):
        update_memo_header(memo=memo, actor=operator, comments="New", memo_date=dt.date(2025, 4, 2))
    assert fresh(memo).comments == ""


@pytest.mark.parametrize("status", [DRAFT, POSTED])
@pytest.mark.parametrize(
    "memo_type,code_type,name",
    [
        (CREDIT, ReasonCodeType.CREDIT_MEMO, "Write-off"),
        (DEBIT, ReasonCodeType.DEBIT_MEMO, "Ad hoc Debit"),
    ],
)
def test_reason_code_changes_with_the_permission(status, memo_type, code_type, name, operator):
    memo = memo_in(status, memo_type)
    old = memo.reason_code
    new = reason(code_type, name)
    update_memo_header(memo=memo, actor=operator, reason_code=new, may_change_reason_code=True)
    memo = fresh(memo)
    assert memo.reason_code == new
    event = last_event(memo)
    assert event.kind == Kind.UPDATED
    assert event.before == {"Reason Code": old.name}
    assert event.after == {"Reason Code": name}


def test_reason_code_needs_the_permission(operator):
    memo = memo_in(DRAFT)
    with refused(memo) as info:
        update_memo_header(
            memo=memo, actor=operator, reason_code=reason(ReasonCodeType.CREDIT_MEMO, "Write-off")
        )
    assert one_error(info, "reason_code") == "You may not change the reason code."


@pytest.mark.parametrize(
    "memo_type,code_type,name",
    [
        (CREDIT, ReasonCodeType.DEBIT_MEMO, "Ad hoc Debit"),
        (CREDIT, ReasonCodeType.REFUND, "Customer Request"),
        (DEBIT, ReasonCodeType.CREDIT_MEMO, "Ad hoc Credit"),
    ],
)
def test_reason_code_must_match_the_memo_type(memo_type, code_type, name, operator):
    memo = memo_in(DRAFT, memo_type)
    with refused(memo) as info:
        update_memo_header(
            memo=memo,
            actor=operator,
            reason_code=reason(code_type, name),
            may_change_reason_code=True,
        )
    expected = "Credit memo" if memo_type == CREDIT else "Debit memo"
    assert one_error(info, "reason_code") == f"{name} is not a {expected} reason code."


def test_reason_code_must_be_active(operator):
    memo = memo_in(POSTED)
    code = reason(ReasonCodeType.CREDIT_MEMO, "Charge Dispute")
    ReasonCode.objects.filter(pk=code.pk).update(active=False)
    code.refresh_from_db()
    with refused(memo) as info:
        update_memo_header(memo=memo, actor=operator, reason_code=code, may_change_reason_code=True)
    assert one_error(info, "reason_code") == "The reason code Charge Dispute is deactivated."


def test_reason_code_cannot_change_on_a_canceled_memo(operator):
    memo = memo_in(CANCELED)
    with refused(memo):
        update_memo_header(
            memo=memo,
            actor=operator,
            reason_code=reason(ReasonCodeType.CREDIT_MEMO, "Write-off"),
            may_change_reason_code=True,
        )


AUTO_PAY = ("auto_pay", "Auto-Pay")
APPLY_ON_POST = ("apply_to_invoice_on_post", "Auto Apply: Apply to this invoice upon posting")
EXCLUDE = ("exclude_from_auto_apply", "Auto Apply: Exclude from auto apply rules")


@pytest.mark.parametrize("status", [DRAFT, POSTED])
@pytest.mark.parametrize(
    "memo_type,source,flag",
    [
        (DEBIT, MemoSource.INVOICE, AUTO_PAY),
        (DEBIT, MemoSource.CHARGES, AUTO_PAY),
        (CREDIT, MemoSource.INVOICE, APPLY_ON_POST),
        (CREDIT, MemoSource.INVOICE, EXCLUDE),
        (CREDIT, MemoSource.CHARGES, EXCLUDE),
    ],
)
def test_flags_change_on_their_memo_type(status, memo_type, source, flag, operator):
    field, label = flag
    memo = memo_in(status, memo_type, source)
    old = getattr(memo, field)
    update_memo_header(memo=memo, actor=operator, **{field: not old})
    memo = fresh(memo)
    assert getattr(memo, field) is (not old)
    event = last_event(memo)
    assert event.kind == Kind.UPDATED
    assert event.before == {label: old}
    assert event.after == {label: not old}


@pytest.mark.parametrize(
    "memo_type,source,flag",
    [
        (CREDIT, MemoSource.INVOICE, AUTO_PAY),
        (CREDIT, MemoSource.CHARGES, AUTO_PAY),
        (DEBIT, MemoSource.INVOICE, APPLY_ON_POST),
        (DEBIT, MemoSource.INVOICE, EXCLUDE),
        (DEBIT, MemoSource.CHARGES, EXCLUDE),
        (CREDIT, MemoSource.CHARGES, APPLY_ON_POST),
    ],
)
def test_flags_are_refused_on_the_other_memo_type(memo_type, source, flag, operator):
    field, label = flag
    memo = memo_in(DRAFT, memo_type, source)
    with refused(memo) as info:
        update_memo_header(memo=memo, actor=operator, **{field: True})
    assert one_error(info, field) == f"{label} does not apply to this memo."


@pytest.mark.parametrize("flag", [APPLY_ON_POST, EXCLUDE])
def test_credit_flags_are_refused_once_fully_settled(flag, operator):
    field, label = flag
    memo = memo_in(POSTED, CREDIT)
    Memo.objects.filter(pk=memo.pk).update(applied_amount=D("60"), refund_amount=D("50"))
    assert fresh(memo).unapplied_amount == 0
    with refused(memo) as info:
        update_memo_header(memo=memo, actor=operator, **{field: True})
    assert one_error(info, field) == f"{label} cannot change once the memo is fully settled."
    # Comments still change.
    update_memo_header(memo=memo, actor=operator, comments="Settled")
    assert fresh(memo).comments == "Settled"


@pytest.mark.parametrize("flag", [APPLY_ON_POST, EXCLUDE])
def test_credit_flags_change_while_partly_settled(flag, operator):
    field, _label = flag
    memo = memo_in(POSTED, CREDIT)
    Memo.objects.filter(pk=memo.pk).update(applied_amount=D("60"), refund_amount=D("49.99"))
    update_memo_header(memo=memo, actor=operator, **{field: True})
    assert getattr(fresh(memo), field) is True


def test_auto_pay_is_refused_once_a_debit_memo_is_paid(operator):
    memo = memo_in(POSTED, DEBIT)
    assert memo.auto_pay is True
    Memo.objects.filter(pk=memo.pk).update(balance=D("0"))
    with refused(memo) as info:
        update_memo_header(memo=memo, actor=operator, auto_pay=False)
    assert one_error(info, "auto_pay") == "Auto-Pay cannot change once the memo is fully settled."


def test_auto_pay_changes_while_a_debit_memo_is_partly_paid(operator):
    memo = memo_in(POSTED, DEBIT)
    Memo.objects.filter(pk=memo.pk).update(balance=D("0.01"))
    update_memo_header(memo=memo, actor=operator, auto_pay=False)
    assert fresh(memo).auto_pay is False


def test_a_draft_with_zero_balance_is_not_settled(operator):
    """Settlement is a posted memo's: a draft's flags change whatever its amounts say."""
    memo = memo_in(DRAFT, DEBIT)
    Memo.objects.filter(pk=memo.pk).update(balance=D("0"))
    update_memo_header(memo=memo, actor=operator, auto_pay=False)
    assert fresh(memo).auto_pay is False


@pytest.mark.parametrize(
    "memo_type,flag", [(DEBIT, AUTO_PAY), (CREDIT, APPLY_ON_POST), (CREDIT, EXCLUDE)]
)
def test_flags_cannot_change_on_a_canceled_memo(memo_type, flag, operator):
    field, _label = flag
    memo = memo_in(CANCELED, memo_type)
    with refused(memo) as info:
        update_memo_header(memo=memo, actor=operator, **{field: not getattr(memo, field)})
    assert one_error(info) == f"{memo.number} is Canceled: only its comments can change."


def test_several_fields_in_one_event(operator):
    memo = invoice_memo(CREDIT)
    update_memo_header(
        memo=memo,
        actor=operator,
        comments="Both",
        memo_date=dt.date(2025, 3, 25),
        apply_to_invoice_on_post=True,
        exclude_from_auto_apply=True,
    )
    [event] = events(memo, Kind.UPDATED)
    assert event.before == {
        "Comments": "",
        "Memo Date": "2025-03-20",
        APPLY_ON_POST[1]: False,
        EXCLUDE[1]: False,
    }
    assert event.after == {
        "Comments": "Both",
        "Memo Date": "2025-03-25",
        APPLY_ON_POST[1]: True,
        EXCLUDE[1]: True,
    }
    assert event.message.startswith("Edited ")


# --- Transferred to Accounting (DOMAIN.md 2.5) ---------------------------------------------------


@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
@pytest.mark.parametrize("value", TransferStatus.values)
def test_every_transfer_value_can_be_set_on_a_posted_memo(memo_type, value, reviewer):
    memo = memo_in(POSTED, memo_type)
    start = TransferStatus.PROCESSING if value == TransferStatus.NO else TransferStatus.NO
    Memo.objects.filter(pk=memo.pk).update(transferred_to_accounting=start)
    set_transferred_to_accounting(memo=memo, value=value, actor=reviewer)
    memo = fresh(memo)
    assert memo.transferred_to_accounting == value
    event = last_event(memo)
    assert event.kind == Kind.TRANSFER_CHANGED
    assert event.actor == reviewer
    assert event.before == {"Transferred to Accounting": TransferStatus(start).label}
    assert event.after == {"Transferred to Accounting": TransferStatus(value).label}
    assert memo.status == POSTED


def test_transfer_defaults_to_no(operator):
    assert memo_in(DRAFT).transferred_to_accounting == TransferStatus.NO


def test_setting_the_same_transfer_value_writes_nothing(reviewer):
    memo = memo_in(POSTED)
    state = snapshot(memo)
    set_transferred_to_accounting(memo=memo, value=TransferStatus.NO, actor=reviewer)
    assert snapshot(memo) == state


@pytest.mark.parametrize("status", [DRAFT, CANCELED])
@pytest.mark.parametrize("value", [TransferStatus.PROCESSING, TransferStatus.YES])
def test_transfer_changes_only_on_posted_memos(status, value, billing_admin):
    memo = memo_in(status)
    with refused(memo) as info:
        set_transferred_to_accounting(
            memo=memo, value=value, actor=billing_admin, may_override=True
        )
    label = MemoStatus(status).label
    assert one_error(info) == (
        f"{memo.number} is {label}: Transferred to Accounting can only change on posted memos."
    )


@pytest.mark.parametrize(
    "value",
    [TransferStatus.NO, TransferStatus.PROCESSING, TransferStatus.ERROR, TransferStatus.IGNORE],
)
def test_leaving_yes_needs_the_override(value, reviewer, billing_admin):
    memo = memo_in(POSTED)
    set_transferred_to_accounting(memo=memo, value=TransferStatus.YES, actor=reviewer)
    with refused(memo) as info:
        set_transferred_to_accounting(memo=memo, value=value, actor=reviewer)
    assert one_error(info) == (
        f"{memo.number} is already Transferred to Accounting: Yes; changing it needs the "
        "override permission."
    )
    set_transferred_to_accounting(memo=memo, value=value, actor=billing_admin, may_override=True)
    assert fresh(memo).transferred_to_accounting == value
    event = last_event(memo)
    assert event.actor == billing_admin
    assert event.before == {"Transferred to Accounting": "Yes"}
    assert event.after == {"Transferred to Accounting": TransferStatus(value).label}


@pytest.mark.parametrize("value", ["maybe", "Yes", "", None])
def test_unknown_transfer_values_are_refused(value, billing_admin):
    memo = memo_in(POSTED)
    with refused(memo) as info:
        set_transferred_to_accounting(
            memo=memo, value=value, actor=billing_admin, may_override=True
        )
    assert one_error(info) == f"{value!r} is not a Transferred to Accounting value."


def test_a_memo_at_yes_cannot_be_unposted_until_overridden(operator, reviewer, billing_admin):
    memo = memo_in(POSTED, DEBIT)
    set_transferred_to_accounting(memo=memo, value=TransferStatus.YES, actor=reviewer)
    with refused(memo):
        unpost_memo(memo=memo, actor=operator)
    set_transferred_to_accounting(
        memo=memo, value=TransferStatus.ERROR, actor=billing_admin, may_override=True
    )
    unpost_memo(memo=memo, actor=operator)
    memo = fresh(memo)
    assert memo.status == DRAFT
    # The value stays as it was: it is only editable again once the memo is posted.
    assert memo.transferred_to_accounting == TransferStatus.ERROR


# --- history -------------------------------------------------------------------------------------


def test_a_full_lifecycle_is_told_by_its_history(operator, reviewer):
    memo = invoice_memo(CREDIT)
    post_memo(memo=memo, actor=operator)
    set_transferred_to_accounting(memo=memo, value=TransferStatus.PROCESSING, actor=reviewer)
    unpost_memo(memo=memo, actor=operator)
    update_memo_header(memo=memo, actor=operator, comments="Wrong account")
    cancel_memo(memo=memo, actor=operator)
    assert [e.kind for e in events(memo)] == [
        Kind.CREATED,
        Kind.POSTED,
        Kind.TRANSFER_CHANGED,
        Kind.UNPOSTED,
        Kind.UPDATED,
        Kind.CANCELED,
    ]
    assert replay(events(memo)) == "Canceled"
    delete_memo(memo=memo, actor=operator)
    assert not MemoEvent.objects.filter(memo_id=memo.pk).exists()


STATUS_EVENTS = {Kind.POSTED, Kind.UNPOSTED, Kind.CANCELED}


def replay(history: list[MemoEvent]) -> str:
    """Walk the status events from Draft; each must start where the previous one ended."""
    assert history[0].kind == Kind.CREATED
    assert history[0].after["status"] == "Draft"
    status = "Draft"
    for event in history[1:]:
        if event.kind not in STATUS_EVENTS:
            continue
        assert event.before["status"] == status, (event.kind, event.before, status)
        status = event.after["status"]
    return status


# --- concurrent transitions (PostgreSQL) ---------------------------------------------------------

THREADS = 20
OPERATIONS = {"post": post_memo, "unpost": unpost_memo, "cancel": cancel_memo}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_concurrent_post_unpost_cancel_on_one_memo(seed, operator):
    memo = invoice_memo(CREDIT)
    rng = random.Random(seed)
    # Each operation at least once, the rest at random, in a random order.
    choices = list(OPERATIONS) + [rng.choice(list(OPERATIONS)) for _ in range(THREADS - 3)]
    rng.shuffle(choices)
    barrier = threading.Barrier(THREADS)
    lock = threading.Lock()
    done: list[str] = []
    refusals: list[str] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        name = choices[index]
        try:
            barrier.wait(timeout=30)
            OPERATIONS[name](memo=Memo(pk=memo.pk), actor=operator)
            with lock:
                done.append(name)
        except ValidationError as exc:
            # A refusal keyed by field has no single code: keep its messages to report them.
            with lock:
                refusals.append(getattr(exc, "code", None) or "; ".join(exc.messages))
        except BaseException as exc:  # reported by the main thread
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    assert len(done) + len(refusals) == THREADS
    # Only the lifecycle refused anything: no lost update, no deadlock, no tax or period error.
    assert set(refusals) <= {"invalid_transition"}

    memo = fresh(memo)
    assert memo.status in {DRAFT, POSTED, CANCELED}
    history = events(memo)
    status_events = [e for e in history if e.kind in STATUS_EVENTS]
    # One event per transition that went through, and none for a refused one.
    assert len(status_events) == len(done)
    kinds = {"post": Kind.POSTED, "unpost": Kind.UNPOSTED, "cancel": Kind.CANCELED}
    for name, kind in kinds.items():
        assert done.count(name) == sum(e.kind == kind for e in status_events)
    assert replay(history) == memo.get_status_display()
    assert done.count("cancel") <= 1
    if memo.status == CANCELED:
        assert status_events[-1].kind == Kind.CANCELED
    assert (memo.posted_at is not None) == (memo.status == POSTED)
    # The memo is the only one on its invoice, and nothing else was written.
    assert Memo.objects.count() == 1
    assert MemoItem.objects.filter(memo=memo).count() == 1
