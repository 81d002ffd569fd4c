"""Document numbers (DOMAIN.md 2.7): prefix + 8-digit counter, gapless, unique under concurrency."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from billing.factories import AccountFactory, BillRunFactory, ChargeFactory, InvoiceFactory
from billing.models import NumberSeries
from billing.numbering import allocate_numbers, allocate_series, format_number, next_number
from billing.services import InvoiceLine, create_invoice
from memos.factories import MemoFactory
from memos.models import MemoType

Key = NumberSeries.Key


def last_number(key: str) -> int:
    return NumberSeries.objects.get(key=key).last_number


@pytest.mark.django_db
def test_invoice_numbers_are_consecutive_from_one():
    assert last_number(Key.INVOICE) == 0
    assert next_number(Key.INVOICE) == "INV00000001"
    assert next_number(Key.INVOICE) == "INV00000002"
    assert allocate_numbers(Key.INVOICE, 3) == ["INV00000003", "INV00000004", "INV00000005"]
    assert next_number(Key.INVOICE) == "INV00000006"
    assert last_number(Key.INVOICE) == 6


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "first"),
    [
        (Key.INVOICE, "INV00000001"),
        (Key.CREDIT_MEMO, "CM00000001"),
        (Key.DEBIT_MEMO, "DM00000001"),
        (Key.BILL_RUN, "BR-00000001"),
    ],
)
def test_each_series_has_its_own_prefix_and_counter(key, first):
    assert next_number(key) == first
    # The other series did not move.
    others = NumberSeries.objects.exclude(key=key).values_list("last_number", flat=True)
    assert set(others) == {0}


@pytest.mark.django_db
def test_documents_take_numbers_from_their_series():
    assert (
        create_invoice(
            account=AccountFactory(),
            invoice_date=dt.date(2026, 10, 1),
            lines=[InvoiceLine(charge=ChargeFactory(), quantity=Decimal(1), unit_price=Decimal(5))],
        ).number
        == "INV00000001"
    )
    assert InvoiceFactory().number == "INV00000002"
    assert MemoFactory().number == "CM00000001"
    assert MemoFactory(memo_type=MemoType.DEBIT).number == "DM00000001"
    assert MemoFactory().number == "CM00000002"
    assert BillRunFactory().number == "BR-00000001"


@pytest.mark.parametrize(
    ("prefix", "number", "expected"),
    [
        ("INV", 1, "INV00000001"),
        ("CM", 12345, "CM00012345"),
        ("BR-", 99999999, "BR-99999999"),
        ("INV", 100000000, "INV100000000"),  # past 8 digits the number just grows
    ],
)
def test_numbers_are_padded_to_8_digits(prefix, number, expected):
    assert format_number(prefix, number) == expected


@pytest.mark.django_db
def test_padding_and_a_configured_prefix():
    NumberSeries.objects.filter(key=Key.CREDIT_MEMO).update(prefix="CRED_", last_number=12344)
    assert next_number(Key.CREDIT_MEMO) == "CRED_00012345"


@pytest.mark.django_db
def test_a_rolled_back_transaction_does_not_consume_a_number():
    assert next_number(Key.INVOICE) == "INV00000001"
    with pytest.raises(RuntimeError), transaction.atomic():
        assert allocate_numbers(Key.INVOICE, 2) == ["INV00000002", "INV00000003"]
        raise RuntimeError("the document could not be saved")
    assert last_number(Key.INVOICE) == 1
    assert next_number(Key.INVOICE) == "INV00000002"


@pytest.mark.django_db
def test_a_failed_document_creation_does_not_consume_a_number():
    account = AccountFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        # Takes INV00000001, then breaks the invoice's constraints: the number goes back.
        InvoiceFactory(account=account, amount_excl_tax=Decimal("-5"), tax_amount=Decimal("0"))
    assert InvoiceFactory(account=account).number == "INV00000001"


@pytest.mark.django_db
def test_zero_or_negative_count_takes_nothing():
    assert allocate_numbers(Key.INVOICE, 0) == []
    assert allocate_numbers(Key.INVOICE, -1) == []
    assert last_number(Key.INVOICE) == 0


@pytest.mark.django_db
def test_several_series_in_one_statement_continue_each_counter():
    next_number(Key.INVOICE)
    numbers = allocate_series({Key.INVOICE: 2, Key.CREDIT_MEMO: 3, Key.DEBIT_MEMO: 0})
    assert numbers == {
        Key.INVOICE: ["INV00000002", "INV00000003"],
        Key.CREDIT_MEMO: ["CM00000001", "CM00000002", "CM00000003"],
        Key.DEBIT_MEMO: [],
    }
    assert (last_number(Key.INVOICE), last_number(Key.CREDIT_MEMO)) == (3, 3)
    assert last_number(Key.DEBIT_MEMO) == 0
    assert allocate_series({Key.INVOICE: 0}) == {Key.INVOICE: []}


@pytest.mark.django_db
def test_several_series_rolled_back_consume_nothing():
    with pytest.raises(RuntimeError), transaction.atomic():
        allocate_series({Key.INVOICE: 2, Key.CREDIT_MEMO: 1})
        raise RuntimeError
    assert (last_number(Key.INVOICE), last_number(Key.CREDIT_MEMO)) == (0, 0)


@pytest.mark.django_db
def test_an_unknown_series_among_several_is_an_error_and_takes_nothing():
    with pytest.raises(NumberSeries.DoesNotExist), transaction.atomic():
        allocate_series({Key.INVOICE: 1, "no_such_series": 1})
    assert last_number(Key.INVOICE) == 0


@pytest.mark.django_db
def test_unknown_series_is_an_error():
    with pytest.raises(NumberSeries.DoesNotExist):
        next_number("no_such_series")


@pytest.mark.django_db
def test_unique_constraint_backs_the_counter():
    invoice = InvoiceFactory()
    NumberSeries.objects.filter(key=Key.INVOICE).update(last_number=0)  # a corrupted counter
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceFactory(account=invoice.account)


@pytest.mark.django_db
def test_prefixes_are_never_shared():
    with pytest.raises(IntegrityError), transaction.atomic():
        NumberSeries.objects.filter(key=Key.DEBIT_MEMO).update(prefix="CM")


THREADS = 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_allocations_get_distinct_consecutive_numbers():
    start = last_number(Key.INVOICE)
    barrier = threading.Barrier(THREADS)
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def allocate():
        try:
            barrier.wait(timeout=30)
            with transaction.atomic():
                number = next_number(Key.INVOICE)
                # Hold the lock a moment, so the others really queue behind it.
                connection.cursor().execute("SELECT pg_sleep(0.01)")
            with lock:
                results.append(number)
        except BaseException as exc:  # reported by the main thread
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=allocate) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    assert len(results) == THREADS
    assert len(set(results)) == THREADS
    assert sorted(results) == [format_number("INV", start + n) for n in range(1, THREADS + 1)]
    assert last_number(Key.INVOICE) == start + THREADS


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_allocations_with_rollbacks_stay_gapless():
    """Half the threads roll back after taking a number: the committed ones are still gapless."""
    start = last_number(Key.CREDIT_MEMO)
    barrier = threading.Barrier(THREADS)
    committed: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def allocate(index: int):
        try:
            barrier.wait(timeout=30)
            try:
                with transaction.atomic():
                    number = next_number(Key.CREDIT_MEMO)
                    if index % 2:
                        raise RuntimeError("rolled back")
                with lock:
                    committed.append(number)
            except RuntimeError:
                pass
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=allocate, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    half = THREADS // 2
    assert sorted(committed) == [format_number("CM", start + n) for n in range(1, half + 1)]
    assert last_number(Key.CREDIT_MEMO) == start + half
