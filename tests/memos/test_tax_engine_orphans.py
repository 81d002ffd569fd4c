"""No tax document is left committed at the third-party engine for a memo that does not keep
it (DOMAIN.md 2.6): whatever the engine may have committed under a memo's document reference
is voided when the memo is canceled, or when its creation fails after the call; answers out of
range are refused with the engine and the value named, and their committed document voided.

The stand-in engine (tests/tax_engine_server.py) keeps the set of documents it holds committed,
so each test can check that nothing is orphaned there."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from billing.factories import ChargeFactory
from billing.models import BillingSettings, TaxEngine
from memos.models import Memo, MemoEvent, MemoStatus, MemoType, TaxStatus
from memos.services import ChargeLine, create_memo_from_charges, recalculate_tax
from memos.services.lifecycle import cancel_memo
from tests.memos.creation_helpers import (
    MEMO_DATE,
    D,
    account,
    from_invoice,
    items_of,
    posted_invoice,
    refused,
    row,
)

pytestmark = pytest.mark.django_db

CREDIT, DEBIT = MemoType.CREDIT, MemoType.DEBIT
TIMED_OUT = "The tax engine did not answer within 0.5 seconds"
REFUSED = "The tax engine refused the request: Address could not be validated"


def voids(server) -> list[str]:
    return [r["body"]["document_number"] for r in server.requests if r["path"] == "/void"]


def sent_references(server) -> list[str]:
    return [r["body"]["document_number"] for r in server.requests if r["path"] == "/calculate"]


def fresh(memo: Memo) -> Memo:
    return Memo.objects.get(pk=memo.pk)


def charges_memo(memo_type=CREDIT, amount="100", **kwargs) -> Memo:
    return create_memo_from_charges(
        account=account(),
        memo_type=memo_type,
        lines=[ChargeLine(charge=ChargeFactory(), amount=D(amount))],
        memo_date=MEMO_DATE,
        actor=None,
        **kwargs,
    )


# --- the engine committed, but answered too late -------------------------------------------------


@pytest.mark.parametrize("source", ["invoice", "charges"])
@pytest.mark.parametrize("memo_type", [CREDIT, DEBIT])
def test_a_late_answer_is_voided_when_the_memo_is_canceled(tax_engine, operator, source, memo_type):
    tax_engine.mode = "late"
    if source == "invoice":
        memo = from_invoice(posted_invoice("100"), memo_type=memo_type, actor=operator)
    else:
        memo = charges_memo(memo_type)
    assert (memo.tax_status, memo.tax_message) == (TaxStatus.ERROR, TIMED_OUT)
    # The engine holds the document; nothing is voided while the memo is kept.
    assert tax_engine.committed == {memo.tax_reference}
    assert voids(tax_engine) == []
    tax_engine.mode = "success"
    cancel_memo(memo=memo, actor=operator)
    assert voids(tax_engine) == [memo.tax_reference]
    assert tax_engine.committed == set()
    memo = fresh(memo)
    assert (memo.status, memo.tax_status) == (MemoStatus.CANCELED, TaxStatus.VOIDED)
    event = memo.events.get(kind=MemoEvent.Kind.CANCELED)
    assert event.after == {"status": "Canceled", "tax_status": "Voided"}


def test_a_timed_out_call_is_voided_on_cancel_too(tax_engine, operator):
    """The client cannot tell a hung engine from one that committed and answered late."""
    tax_engine.mode = "timeout"
    memo = from_invoice(posted_invoice("100"), actor=operator)
    assert memo.tax_status == TaxStatus.ERROR
    tax_engine.mode = "success"
    cancel_memo(memo=memo, actor=operator)
    assert voids(tax_engine) == [memo.tax_reference]
    assert fresh(memo).tax_status == TaxStatus.VOIDED


def test_a_refused_call_committed_nothing_and_cancel_voids_nothing(tax_engine, operator):
    tax_engine.mode = "error"
    memo = from_invoice(posted_invoice("100"), actor=operator)
    tax_engine.mode = "success"
    cancel_memo(memo=memo, actor=operator)
    assert voids(tax_engine) == []
    assert (fresh(memo).status, fresh(memo).tax_status) == (MemoStatus.CANCELED, TaxStatus.ERROR)


def test_cancel_after_a_late_answer_waits_for_the_void(tax_engine, operator):
    tax_engine.mode = "late"
    memo = from_invoice(posted_invoice("100"), actor=operator)
    tax_engine.mode = "error"
    with pytest.raises(ValidationError) as info:
        cancel_memo(memo=memo, actor=operator)
    assert info.value.code == "tax_void_failed"
    assert info.value.messages == [
        f"{memo.number} was not canceled: the tax the engine may hold for it could not be "
        f"voided ({REFUSED}). Try again, or recalculate tax and then cancel."
    ]
    assert fresh(memo).status == MemoStatus.DRAFT
    tax_engine.mode = "success"
    cancel_memo(memo=memo, actor=operator)
    assert tax_engine.committed == set()


def test_a_failed_recalculation_keeps_the_earlier_commit_voidable(tax_engine, operator):
    memo = from_invoice(posted_invoice("100"), actor=operator)
    assert memo.tax_status == TaxStatus.COMPLETE
    tax_engine.mode = "error"
    recalculate_tax(memo=memo, actor=operator)
    assert fresh(memo).tax_status == TaxStatus.ERROR
    tax_engine.mode = "success"
    cancel_memo(memo=memo, actor=operator)
    assert voids(tax_engine) == [memo.tax_reference]
    assert tax_engine.committed == set()


def test_a_late_recalculation_then_a_successful_one_completes(tax_engine, operator):
    tax_engine.mode = "error"
    memo = from_invoice(posted_invoice("100"), actor=operator)
    tax_engine.mode = "late"
    recalculate_tax(memo=memo, actor=operator)
    assert tax_engine.committed == {memo.tax_reference}
    tax_engine.mode = "success"
    recalculate_tax(memo=memo, actor=operator)
    assert fresh(memo).tax_status == TaxStatus.COMPLETE
    cancel_memo(memo=memo, actor=operator)
    assert tax_engine.committed == set()


def test_switching_to_the_built_in_engine_voids_a_late_commit(
    tax_engine, operator, django_capture_on_commit_callbacks
):
    tax_engine.mode = "late"
    memo = from_invoice(posted_invoice("100"), actor=operator)
    settings = BillingSettings.load()
    settings.tax_engine = TaxEngine.BUILT_IN
    settings.save()
    tax_engine.mode = "success"
    with django_capture_on_commit_callbacks(execute=True):
        recalculate_tax(memo=memo, actor=operator)
    assert voids(tax_engine) == [memo.tax_reference]
    assert tax_engine.committed == set()
    memo = fresh(memo)
    assert (memo.taxed_by_third_party, memo.tax_status) == (False, TaxStatus.NONE)


# --- creation failing after the call -------------------------------------------------------------


def test_a_create_refused_after_a_late_answer_voids_it(tax_engine, operator):
    """Saved without tax (the engine's answer never came), 110.01 is over the 110.00 left to
    credit: the create is refused after the call, and what the engine committed is voided."""
    tax_engine.mode = "late"
    invoice = posted_invoice("100")
    with refused() as info:
        from_invoice(invoice, [row(items_of(invoice)[0], "110.01", key="r")], actor=operator)
    assert info.value.message_dict["r"] == ["At most 110.00 available to credit on this item."]
    assert voids(tax_engine) == sent_references(tax_engine)
    assert tax_engine.committed == set()


def test_a_duplicate_refused_at_insert_voids_its_tax(tax_engine, operator, monkeypatch):
    """Another user's submit with the operator's key passes the early look-up (the operator's
    memo not yet committed), has its tax committed, then meets that memo at insert and is
    refused: its tax is voided, the operator's is kept."""
    from billing.factories import UserFactory
    from memos.services import creation

    invoice = posted_invoice("100")
    first = from_invoice(invoice, idempotency_key="k", actor=operator)
    real = creation._existing_memo
    calls = []

    def not_yet_committed(key):
        calls.append(key)
        return None if len(calls) == 1 else real(key)

    monkeypatch.setattr(creation, "_existing_memo", not_yet_committed)
    with refused():
        from_invoice(invoice, idempotency_key="k", actor=UserFactory(username="other"))
    _, second_reference = sent_references(tax_engine)
    assert voids(tax_engine) == [second_reference]
    assert tax_engine.committed == {first.tax_reference}


def test_a_database_failure_after_the_engine_voids_the_tax(tax_engine, operator, monkeypatch):
    from memos.services import creation

    def broken(*args, **kwargs):
        raise RuntimeError("the history could not be written")

    monkeypatch.setattr(creation, "record_event", broken)
    with pytest.raises(RuntimeError):
        from_invoice(posted_invoice("100"), actor=operator)
    assert voids(tax_engine) == sent_references(tax_engine)
    assert tax_engine.committed == set()


# --- answers out of range ------------------------------------------------------------------------


def test_a_negative_tax_answer_is_refused_by_name_and_voided(tax_engine, operator):
    tax_engine.mode = "negative"
    memo = from_invoice(posted_invoice("100"), actor=operator)
    assert memo.status == MemoStatus.DRAFT
    assert memo.tax_status == TaxStatus.ERROR
    assert memo.tax_message == (
        "The tax engine gave an invalid answer: line '1': tax -150.00 is negative on the "
        "amount 100.00."
    )
    # Saved without tax, like any failed call; the document the engine committed is voided.
    assert (memo.amount_excl_tax, memo.tax_amount, memo.amount) == (D(100), D(0), D(100))
    assert voids(tax_engine) == [memo.tax_reference]
    assert tax_engine.committed == set()
    tax_engine.mode = "success"
    cancel_memo(memo=memo, actor=operator)
    assert voids(tax_engine) == [memo.tax_reference]  # nothing more to void


@pytest.mark.parametrize(
    ("tax", "problem"),
    [
        ("NaN", "\"tax_amount\" 'NaN' is not a number"),
        (
            "1000000000000000",
            '"tax_amount" 1,000,000,000,000,000 is too large: at most 9,999,999,999,999.99',
        ),
        (
            "9999999999999.99",
            "net 100.00 + tax 9,999,999,999,999.99 = 10,000,000,000,099.99 is too large: "
            "at most 9,999,999,999,999.99",
        ),
    ],
    ids=["nan", "too-large", "sum-too-large"],
)
def test_answers_the_columns_cannot_hold_are_refused_and_voided(tax_engine, operator, tax, problem):
    tax_engine.mode = "malformed"
    tax_engine.malformed_body = lambda body: {
        "lines": [
            {"key": line["key"], "amount_excl_tax": line["amount"], "tax_amount": tax}
            for line in body["lines"]
        ]
    }
    memo = charges_memo(amount="100")
    assert memo.tax_status == TaxStatus.ERROR
    assert memo.tax_message == f"The tax engine gave an invalid answer: line '1': {problem}."
    assert memo.amount == D(100)
    assert voids(tax_engine) == [memo.tax_reference]
    assert tax_engine.committed == set()


def test_a_rejected_answer_whose_void_fails_is_voided_on_cancel(tax_engine, operator, monkeypatch):
    from billing import tax_engine as engine

    tax_engine.mode = "negative"
    real_void = engine.void

    def down(**kwargs):
        raise engine.TaxEngineError("The tax engine did not answer within 0.5 seconds")

    monkeypatch.setattr(engine, "void", down)
    memo = from_invoice(posted_invoice("100"), actor=operator)
    assert tax_engine.committed == {memo.tax_reference}
    monkeypatch.setattr(engine, "void", real_void)
    tax_engine.mode = "success"
    cancel_memo(memo=memo, actor=operator)
    assert tax_engine.committed == set()
    assert fresh(memo).tax_status == TaxStatus.VOIDED


# --- memos saved before the flag existed ---------------------------------------------------------


def test_the_migration_flags_the_open_memos_the_engine_may_hold(tax_engine, operator):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("memos.migrations.0006_memo_tax_maybe_committed")
    complete = from_invoice(posted_invoice("100"), actor=operator)
    tax_engine.mode = "late"
    late = from_invoice(posted_invoice("100"), actor=operator)
    tax_engine.mode = "error"
    refused_call = from_invoice(posted_invoice("100"), actor=operator)
    tax_engine.mode = "success"
    canceled = from_invoice(posted_invoice("100"), actor=operator)
    Memo.objects.filter(pk=canceled.pk).update(status=MemoStatus.CANCELED)
    built_in = from_invoice(posted_invoice("100"), actor=operator, tax_auto_calculation=False)
    Memo.objects.update(tax_maybe_committed=False)
    migration.mark_possible_commits(apps, None)
    flagged = set(Memo.objects.filter(tax_maybe_committed=True).values_list("pk", flat=True))
    assert flagged == {complete.pk, late.pk}
    assert {refused_call.pk, canceled.pk, built_in.pk}.isdisjoint(flagged)
