"""billing/bulk.py's row writers (the bill run's COPY path on PostgreSQL, executemany elsewhere):
they must write what the ORM would, on both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from billing.bulk import insert_rows, reserve_ids, update_from_rows
from billing.factories import AccountFactory, BillRunFactory, InvoiceFactory
from billing.models import BilledPeriod, Invoice, InvoiceStatus
from memos.factories import MemoFactory
from memos.models import MemoEvent

pytestmark = pytest.mark.django_db
D = Decimal
DAY = dt.date(2026, 11, 1)


def test_reserved_ids_are_distinct_and_never_taken_by_a_later_insert():
    with transaction.atomic():
        [first, second] = reserve_ids((Invoice, 2), (BilledPeriod, 0))
        assert len(set(first)) == 2 and second == []
        account = AccountFactory()
        insert_rows(
            Invoice,
            ["id", "number", "account_id", "currency_id", "invoice_date", "due_date"],
            [(pk, f"T{pk}", account.pk, account.currency_id, DAY, DAY) for pk in first],
        )
        later = InvoiceFactory(account=account)
    assert later.pk not in first
    assert sorted(Invoice.objects.filter(pk__in=first).values_list("pk", flat=True)) == first


def test_inserted_rows_get_the_model_defaults_and_json_values():
    memo = MemoFactory()
    before = dt.datetime.now(dt.UTC)
    insert_rows(
        MemoEvent,
        ["memo_id", "kind", "message", "after"],
        [(memo.pk, MemoEvent.Kind.CREATED.value, "bulk", {"status": "Draft", "amount": "1.50"})],
    )
    event = MemoEvent.objects.get(memo=memo, message="bulk")
    assert event.after == {"status": "Draft", "amount": "1.50"}
    assert event.before == {}  # the field's default
    assert event.actor_id is None
    assert event.at >= before - dt.timedelta(seconds=1)  # auto_now_add: now


def test_inserted_invoice_reads_back_as_the_orm_writes_it():
    account = AccountFactory()
    insert_rows(  # no id given: the database's
        Invoice,
        [
            "number",
            "account_id",
            "currency_id",
            "invoice_date",
            "due_date",
            "amount_excl_tax",
            "tax_amount",
            "amount",
        ],
        [("BULK1", account.pk, account.currency_id, DAY, DAY, D("12.00"), D("0.34"), D("12.34"))],
    )
    invoice = Invoice.objects.get(number="BULK1")
    assert (invoice.amount, invoice.balance, invoice.status) == (D("12.34"), 0, InvoiceStatus.DRAFT)
    assert invoice.created_at is not None


def test_a_row_breaking_a_constraint_is_djangos_integrity_error():
    run = BillRunFactory()
    invoice = InvoiceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(
            Invoice,
            ["number", "account_id", "currency_id", "invoice_date", "due_date", "bill_run_id"],
            [(invoice.number, invoice.account_id, "USD", DAY, DAY, run.pk)],
        )


def test_update_from_rows_sets_matching_rows_only_where_the_condition_holds():
    account = AccountFactory()
    invoices = [
        InvoiceFactory(account=account, amount_excl_tax=D(n), tax_amount=0) for n in (1, 2, 3)
    ]
    update_from_rows(
        Invoice,
        "id",
        ["due_date"],
        [(invoices[0].pk, DAY, D(1)), (invoices[1].pk, DAY, D(5)), (invoices[2].pk, DAY, D(3))],
        compare=("amount",),
        where="t.amount = v.c0",  # the second row's amount does not match
    )
    dates = [Invoice.objects.get(pk=i.pk).due_date for i in invoices]
    assert dates[0] == DAY and dates[2] == DAY
    assert dates[1] == invoices[1].due_date != DAY


def test_update_from_rows_in_batches_beyond_the_parameter_limit():
    account = AccountFactory()
    invoices = [InvoiceFactory(account=account) for _ in range(700)]  # 2 values a row: > 999
    update_from_rows(Invoice, "id", ["due_date"], [(i.pk, DAY) for i in invoices])
    assert Invoice.objects.filter(account=account, due_date=DAY).count() == 700
