"""A payment-run chunk runs the same SQL statements for 10 accounts as for 200 (DOMAIN.md 6,
issue 13 must-show 4): every account has a credit memo to apply, an invoice and a debit memo to
collect, and every other account's card is declined, so every branch of the chunk writes rows.

As for bill runs (tests/billing/test_bill_run_statements.py): on PostgreSQL the counts are equal;
SQLite splits bulk writes into batches of at most 999 parameters, so there the statements' shapes
in order, with a batch's repeats counted once, are the same.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from billing.models import BillingSettings, Invoice
from payments.models import Payment, PaymentRunError
from payments.runs.chunk import process_accounts
from payments.runs.services import create_payment_run
from tests.billing.test_bill_run_statements import assert_same_statements, statements
from tests.payments.helpers import TARGET, account, credit_memo, debit_memo, invoice
from tests.reliability.invariants import assert_invariants

SMALL, LARGE = 10, 200


def build(count: int) -> list[int]:
    ids = []
    for n in range(count):
        acct = account(auto_pay=True, token="tok_decline_do_not_honor" if n % 2 else "tok_visa")
        credit_memo(acct, ["30.00"])
        invoice(acct, ["60.00", "40.00"])
        debit_memo(acct, ["25.00"])
        ids.append(acct.pk)
    return ids


@pytest.mark.django_db
def test_a_chunk_runs_as_many_statements_for_200_accounts_as_for_10(payment_gateway):
    small_ids, large_ids = build(SMALL), build(LARGE)
    run = create_payment_run(actor=None, target_date=TARGET)
    rule = BillingSettings.load().application_rule
    captured = []
    for ids in (small_ids, large_ids):
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            result = process_accounts(run=run, account_ids=ids, rule=rule)
        captured.append(statements(queries))
        half = len(ids) // 2
        # The credit pays the debit memo (due the same day, its number sorts first) and part of
        # the invoice; the invoice's rest is charged: approved or declined.
        assert (result.credit_applications, result.collected, result.declines) == (
            2 * len(ids),
            half,
            half,
        )
    small, large = captured
    print(
        f"\npayment-run chunk on {connection.vendor}: {len(small)} statements for {SMALL} "
        f"accounts, {len(large)} for {LARGE}"
    )
    assert_same_statements(small, large)
    assert Payment.objects.count() == SMALL + LARGE
    assert PaymentRunError.objects.count() == (SMALL + LARGE) // 2
    assert Invoice.objects.filter(balance=0).count() == (SMALL + LARGE) // 2
    assert_invariants()
