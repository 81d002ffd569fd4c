"""Numbers of created memos (DOMAIN.md 2.7): CM/DM + 8 digits from a locked per-series counter,
gapless (a failed create takes no number) and unique under concurrency (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection

from billing.factories import ChargeFactory
from billing.models import NumberSeries
from billing.numbering import format_number
from memos.models import Memo, MemoEvent, MemoItem, MemoType
from memos.services import ChargeLine, create_memo_from_charges, creation
from tests.memos.creation_helpers import (
    MEMO_DATE,
    D,
    account,
    db_state,
    from_invoice,
    items_of,
    last_number,
    posted_invoice,
    refused,
    row,
)

Key = NumberSeries.Key
CREDIT, DEBIT = MemoType.CREDIT, MemoType.DEBIT
THREADS = 20


def charges_memo(acct, charge, memo_type=CREDIT, **kwargs):
    return create_memo_from_charges(
        account=acct,
        memo_type=memo_type,
        lines=[ChargeLine(charge=charge, amount=D("10"))],
        memo_date=MEMO_DATE,
        actor=kwargs.pop("actor", None),
        **kwargs,
    )


# --- sequential ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sequential_creates_are_numbered_consecutively_per_type(operator):
    invoice = posted_invoice("100")
    acct, charge = account(), ChargeFactory()
    assert NumberSeries.objects.get(key=Key.CREDIT_MEMO).prefix == "CM"
    assert NumberSeries.objects.get(key=Key.DEBIT_MEMO).prefix == "DM"
    numbers = [
        from_invoice(invoice, [row(items_of(invoice)[0], "1")], actor=operator).number,
        charges_memo(acct, charge).number,
        from_invoice(invoice, [row(items_of(invoice)[0], "1")], memo_type=DEBIT).number,
        charges_memo(acct, charge, DEBIT).number,
        charges_memo(acct, charge).number,
    ]
    assert numbers == ["CM00000001", "CM00000002", "DM00000001", "DM00000002", "CM00000003"]
    assert last_number(Key.CREDIT_MEMO) == 3
    assert last_number(Key.DEBIT_MEMO) == 2
    # Other series did not move (the invoice took INV00000001 itself).
    assert last_number(Key.INVOICE) == 1
    assert last_number(Key.REFUND) == 0


@pytest.mark.django_db
def test_numbers_follow_the_configured_prefix(operator):
    acct, charge = account(), ChargeFactory()
    assert charges_memo(acct, charge).number == "CM00000001"
    NumberSeries.objects.filter(key=Key.CREDIT_MEMO).update(prefix="CRED-")
    NumberSeries.objects.filter(key=Key.DEBIT_MEMO).update(prefix="DEB_", last_number=41)
    assert charges_memo(acct, charge).number == "CRED-00000002"
    assert charges_memo(acct, charge, DEBIT).number == "DEB_00000042"
    assert set(Memo.objects.values_list("number", flat=True)) == {
        "CM00000001",
        "CRED-00000002",
        "DEB_00000042",
    }


@pytest.mark.django_db
def test_a_refused_create_does_not_consume_a_number(operator):
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    assert from_invoice(invoice, [row(item, "10")]).number == "CM00000001"
    with refused():  # more than available to credit: refused under the invoice lock
        from_invoice(invoice, [row(item, "100.01")])
    with refused():  # a row error: refused before the transaction
        from_invoice(invoice, [row(item, "-1")])
    assert last_number(Key.CREDIT_MEMO) == 1
    assert from_invoice(invoice, [row(item, "10")]).number == "CM00000002"


@pytest.mark.django_db
def test_a_create_failing_after_taking_its_number_gives_it_back(operator, monkeypatch):
    """The number is taken in the memo's transaction: if writing the items or the history event
    then fails, the number is rolled back with the memo."""
    acct, charge = account(), ChargeFactory()

    def broken_event(*args, **kwargs):
        assert Memo.objects.filter(number="CM00000001").exists()  # saved, then rolled back
        raise RuntimeError("the history could not be written")

    monkeypatch.setattr(creation, "record_event", broken_event)
    before = db_state()
    with pytest.raises(RuntimeError):
        charges_memo(acct, charge, actor=operator)
    assert db_state() == before
    monkeypatch.undo()
    assert charges_memo(acct, charge).number == "CM00000001"
    assert last_number(Key.CREDIT_MEMO) == 1


@pytest.mark.django_db
def test_a_corrupted_counter_is_caught_by_the_unique_number(operator):
    """The unique constraint backs the counter; a clash is not mistaken for a duplicate submit."""
    acct, charge = account(), ChargeFactory()
    charges_memo(acct, charge, idempotency_key="first")
    NumberSeries.objects.filter(key=Key.CREDIT_MEMO).update(last_number=0)
    before = db_state()
    with pytest.raises(IntegrityError):
        charges_memo(acct, charge, idempotency_key="second")
    assert db_state() == before


@pytest.mark.django_db
def test_an_idempotent_retry_consumes_no_number(operator):
    acct, charge = account(), ChargeFactory()
    first = charges_memo(acct, charge, idempotency_key="once")
    assert charges_memo(acct, charge, idempotency_key="once").pk == first.pk
    assert last_number(Key.CREDIT_MEMO) == 1
    assert charges_memo(acct, charge).number == "CM00000002"


@pytest.mark.django_db
def test_a_memo_saved_with_a_tax_engine_error_keeps_the_sequence(tax_engine, operator):
    acct, charge = account(), ChargeFactory()
    tax_engine.mode = "error"
    assert charges_memo(acct, charge).number == "CM00000001"
    tax_engine.mode = "success"
    assert charges_memo(acct, charge).number == "CM00000002"


# --- concurrent (PostgreSQL) ---------------------------------------------------------------------


def run_at_once(target: Callable[[int], str]) -> list[str]:
    """Run target(index) in THREADS threads released together; return what each returned."""
    barrier = threading.Barrier(THREADS)
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            result = target(index)
            with lock:
                results.append(result)
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
    assert len(results) == THREADS
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("source", ["invoice", "charges"])
def test_concurrent_creates_get_distinct_consecutive_numbers(source, operator):
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    acct, charge = invoice.account, ChargeFactory()
    start = last_number(Key.CREDIT_MEMO)

    def create(index: int) -> str:
        if source == "invoice":
            return from_invoice(invoice, [row(item, "1")], actor=operator).number
        return charges_memo(acct, charge, actor=operator).number

    numbers = run_at_once(create)
    assert len(set(numbers)) == THREADS
    assert sorted(numbers) == [format_number("CM", start + n) for n in range(1, THREADS + 1)]
    assert last_number(Key.CREDIT_MEMO) == start + THREADS
    assert Memo.objects.count() == THREADS
    assert MemoItem.objects.count() == THREADS
    assert MemoEvent.objects.filter(kind=MemoEvent.Kind.CREATED).count() == THREADS


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_credit_and_debit_memos_keep_their_own_series(operator):
    acct, charge = account(), ChargeFactory()
    credit_start, debit_start = last_number(Key.CREDIT_MEMO), last_number(Key.DEBIT_MEMO)

    def create(index: int) -> str:
        return charges_memo(acct, charge, CREDIT if index % 2 else DEBIT).number

    numbers = run_at_once(create)
    half = THREADS // 2
    assert sorted(n for n in numbers if n.startswith("CM")) == [
        format_number("CM", credit_start + n) for n in range(1, half + 1)
    ]
    assert sorted(n for n in numbers if n.startswith("DM")) == [
        format_number("DM", debit_start + n) for n in range(1, half + 1)
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("source", ["invoice", "charges"])
def test_concurrent_creates_with_the_same_idempotency_key_make_one_memo(source, operator):
    invoice = posted_invoice("100")
    item = items_of(invoice)[0]
    acct, charge = invoice.account, ChargeFactory()
    start = last_number(Key.CREDIT_MEMO)

    def create(index: int) -> str:
        if source == "invoice":
            memo = from_invoice(invoice, [row(item, "5")], idempotency_key="submit-1")
        else:
            memo = charges_memo(acct, charge, idempotency_key="submit-1")
        return memo.number

    numbers = run_at_once(create)
    expected = format_number("CM", start + 1)
    assert numbers == [expected] * THREADS
    assert Memo.objects.count() == 1
    assert Memo.objects.get().idempotency_key == "submit-1"
    assert MemoItem.objects.count() == 1
    assert MemoEvent.objects.count() == 1
    assert last_number(Key.CREDIT_MEMO) == start + 1
