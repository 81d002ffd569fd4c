"""Writes at production scale: the statements a create, an apply or the memo page runs do not
grow with the items (or targets) they handle (issue "Fast at production scale").

Each test runs the same operation small and large and compares the captured statements. On
SQLite, Django 5.2 assumes SQLite's old limit of 999 variables per statement and splits bulk
inserts into batches of 999 // fields rows; the `sqlite_batches` fixture tells it the
connection's real limit (as Django 6 reads it), so the comparison is about round trips the code
makes, not about that assumption. PostgreSQL (production) needs no such help.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.factories import ChargeFactory, TaxCodeFactory, TaxRateFactory
from billing.models import Charge, Invoice, InvoiceItem
from billing.services import InvoiceLine, create_invoice
from memos.factories import MemoFactory, MemoItemFactory
from memos.models import Memo, MemoApplication, MemoApplicationItem, MemoStatus, MemoType
from memos.services import ChargeLine, create_memo_from_charges, create_memo_from_invoice
from memos.services.lifecycle import post_memo
from memos.services.settlement import ApplicationTarget, apply_credit_memo
from tests.memos.creation_helpers import INVOICE_DATE, MEMO_DATE, D, account, row

pytestmark = pytest.mark.django_db

ON = dt.date(2025, 3, 25)
# The goal for a create request, as the benchmark counts on PostgreSQL: every
# statement, with the BEGIN and COMMIT of the request's two transactions (the memo's, and the
# session's that keeps its message).
MAX_CREATE_QUERIES = 20
REQUEST_TRANSACTION_STATEMENTS = 4


@pytest.fixture(autouse=True)
def sqlite_batches(monkeypatch):
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        monkeypatch.setattr(connection.features, "max_query_params", limit)


def captured(call) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        call()
    return [query["sql"] for query in queries.captured_queries]


def assert_same_statements(small: list[str], large: list[str]) -> None:
    assert len(small) == len(large), "\n".join(["small:", *small, "", "large:", *large])


def assert_within_goal(statements: list[str]) -> None:
    """Inside the test's transaction a request's transactions are savepoints: count the work,
    plus the BEGIN and COMMIT statements the request sends outside a test."""
    work = [sql for sql in statements if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(work) + REQUEST_TRANSACTION_STATEMENTS <= MAX_CREATE_QUERIES, "\n".join(work)


def tax_codes() -> list:
    """Three tax codes with their rates: items of several codes must not query per code."""
    codes = []
    for code, rate in (("T5", "5"), ("T10", "10"), ("T20", "20")):
        tax_code = TaxCodeFactory(code=code)
        TaxRateFactory(tax_code=tax_code, rate=D(rate), effective_from=dt.date(2020, 1, 1))
        codes.append(tax_code)
    return codes


def catalog(codes) -> list[Charge]:
    """One charge per tax code, read back bare (no related objects cached)."""
    made = [
        ChargeFactory(charge_type="one_time", taxable=code is not None, tax_code=code)
        for code in codes
    ]
    return list(Charge.objects.filter(pk__in=[c.pk for c in made]).order_by("pk"))


def lines_for(charges, count: int) -> list[InvoiceLine]:
    return [
        InvoiceLine(charge=charges[n % len(charges)], quantity=D(1), unit_price=D(10 + n))
        for n in range(count)
    ]


def invoice_of(acct, charges, count: int) -> Invoice:
    return create_invoice(
        account=acct, invoice_date=INVOICE_DATE, lines=lines_for(charges, count), post=True
    )


# --- billing.services.create_invoice -------------------------------------------------------------


def test_creating_an_invoice_runs_the_same_statements_for_10_and_200_lines():
    acct = account()
    charges = catalog(tax_codes())

    def create(count):
        fresh = list(Charge.objects.filter(pk__in=[c.pk for c in charges]).order_by("pk"))
        lines = lines_for(fresh, count)
        return lambda: create_invoice(account=acct, invoice_date=INVOICE_DATE, lines=lines)

    create(3)()  # the first invoice of the series
    assert_same_statements(captured(create(10)), captured(create(200)))


# --- creating a memo from an invoice -------------------------------------------------------------


def test_creating_from_an_invoice_runs_the_same_statements_for_10_and_200_items(operator):
    acct = account()
    charges = catalog(tax_codes())
    small, large = invoice_of(acct, charges, 10), invoice_of(acct, charges, 200)

    def create(invoice):
        # As a caller reads them: bare items, nothing related cached.
        items = list(InvoiceItem.objects.filter(invoice=invoice).order_by("sort_order", "id"))
        lines = [row(item, item.amount_excl_tax) for item in items]
        return lambda: create_memo_from_invoice(
            invoice=invoice,
            memo_type=MemoType.CREDIT,
            lines=lines,
            actor=operator,
            memo_date=MEMO_DATE,
            idempotency_key=f"key-{invoice.pk}",
        )

    statements = captured(create(large))
    assert_same_statements(captured(create(small)), statements)
    memo = Memo.objects.get(invoice=large)
    assert memo.items.count() == 200
    assert memo.amount == large.amount


def from_invoice_post(invoice: Invoice) -> dict:
    """The page's POST: every row selected at its net amount."""
    data = {
        "memo_date": MEMO_DATE.isoformat(),
        "reason_code": Memo._meta.get_field("reason_code")
        .related_model.objects.get(code_type="credit_memo", is_default=True)
        .pk,
        "tax_auto_calculation": "on",
        "idempotency_key": f"key-{invoice.pk}",
    }
    for item in invoice.items.all():
        data[f"item-{item.pk}-selected"] = "on"
        data[f"item-{item.pk}-amount"] = str(item.amount_excl_tax)
    return data


def test_the_create_from_invoice_page_runs_the_same_statements_for_10_and_200_items(
    operator_client,
):
    acct = account()
    charges = catalog(tax_codes())
    small, large = invoice_of(acct, charges, 10), invoice_of(acct, charges, 200)
    warm = invoice_of(acct, charges, 2)

    def create(invoice):
        url = reverse("memos:memo_create_from_invoice", args=[invoice.number]) + "?type=credit"
        data = from_invoice_post(invoice)

        def post():
            response = operator_client.post(url, data)
            assert response.status_code == 302, response.content.decode()[:2000]

        return post

    create(warm)()  # the session's first write, the series' first number
    statements = captured(create(large))
    assert_same_statements(captured(create(small)), statements)
    assert_within_goal(statements)
    assert Memo.objects.get(invoice=large).items.count() == 200


def test_the_create_from_invoice_page_and_its_live_totals_run_the_same_statements(
    operator_client,
):
    """The page (every row with its Available to Credit, the totals priced) and the htmx
    preview that reprices the rows as the operator types: 10 rows or 200, the same queries."""
    acct = account()
    charges = catalog(tax_codes())
    small, large = invoice_of(acct, charges, 10), invoice_of(acct, charges, 200)

    def page(invoice):
        url = reverse("memos:memo_create_from_invoice", args=[invoice.number]) + "?type=credit"
        return lambda: operator_client.get(url)

    def preview(invoice):
        url = reverse("memos:memo_create_from_invoice", args=[invoice.number]) + "?type=credit"
        data = {**from_invoice_post(invoice), "preview": "1"}

        def post():
            response = operator_client.post(url, data, headers={"HX-Request": "true"})
            assert response.status_code == 200
            assert "is-invalid" not in response.content.decode()

        return post

    page(small)()
    assert_same_statements(captured(page(small)), captured(page(large)))
    assert_same_statements(captured(preview(small)), captured(preview(large)))


# --- creating a memo from charges ----------------------------------------------------------------


def test_creating_from_charges_runs_the_same_statements_for_10_and_200_lines(operator):
    acct = account()
    charges = catalog(tax_codes())

    def create(count):
        fresh = list(Charge.objects.filter(pk__in=[c.pk for c in charges]).order_by("pk"))
        lines = [
            ChargeLine(charge=fresh[n % len(fresh)], amount=D(10 + n), description=f"line {n}")
            for n in range(count)
        ]
        return lambda: create_memo_from_charges(
            account=acct,
            memo_type=MemoType.CREDIT,
            lines=lines,
            actor=operator,
            memo_date=MEMO_DATE,
            idempotency_key=f"charges-{count}",
        )

    create(2)()
    assert_same_statements(captured(create(10)), captured(create(200)))


def test_the_create_from_charges_page_runs_the_same_statements_for_10_and_200_lines(
    operator_client,
):
    acct = account()
    charges = catalog(tax_codes())

    def create(count):
        data = {
            "account": acct.number,
            "memo_date": MEMO_DATE.isoformat(),
            "reason_code": Memo._meta.get_field("reason_code")
            .related_model.objects.get(code_type="credit_memo", is_default=True)
            .pk,
            "tax_auto_calculation": "on",
            "idempotency_key": f"charges-page-{count}",
            "line": [f"l{n}" for n in range(count)],
        }
        for n in range(count):
            data[f"line-l{n}-charge"] = charges[n % len(charges)].pk
            data[f"line-l{n}-unit_price"] = str(10 + n)

        def post():
            response = operator_client.post(reverse("memos:memo_create") + "?type=credit", data)
            assert response.status_code == 302, response.content.decode()[:2000]

        return post

    create(2)()
    statements = captured(create(200))
    assert_same_statements(captured(create(10)), statements)
    assert_within_goal(statements)


def test_the_live_totals_of_the_charges_page_run_the_same_statements(operator_client):
    acct = account()
    charges = catalog(tax_codes())

    def preview(count):
        data = {
            "account": acct.number,
            "memo_date": MEMO_DATE.isoformat(),
            "tax_auto_calculation": "on",
            "preview": "1",
            "line": [f"l{n}" for n in range(count)],
        }
        for n in range(count):
            data[f"line-l{n}-charge"] = charges[n % len(charges)].pk
            data[f"line-l{n}-unit_price"] = str(10 + n)

        def post():
            response = operator_client.post(
                reverse("memos:memo_create") + "?type=credit", data, headers={"HX-Request": "true"}
            )
            assert response.status_code == 200

        return post

    preview(2)()
    assert_same_statements(captured(preview(10)), captured(preview(200)))


# --- applying a credit memo ----------------------------------------------------------------------


def posted_credit_memo(acct, amounts: list[str]) -> Memo:
    charges = catalog([None])
    memo = create_memo_from_charges(
        account=acct,
        memo_type=MemoType.CREDIT,
        lines=[ChargeLine(charge=charges[0], amount=D(a)) for a in amounts],
        actor=None,
        memo_date=MEMO_DATE,
    )
    post_memo(memo=memo, actor=None)
    return memo


def apply_statements(targets: int, items: int, *, credit_items: int = 1) -> list[str]:
    """Apply 1.00 to each of `targets` invoices of `items` untaxed items (header amounts, split
    by Proration), from a credit memo of `credit_items` items of 1.00, 2.00, ...; then check
    what the application wrote."""
    acct = account()
    charges = catalog([None])
    credit = posted_credit_memo(acct, [str(1000 * (n + 1)) for n in range(credit_items)])
    invoices = [invoice_of(acct, charges, items) for _ in range(targets)]
    # As the apply page hands them over: documents read without their items.
    chosen = [
        ApplicationTarget(invoice=invoice, amount=D("1.00"), key=f"invoice-{invoice.pk}")
        for invoice in Invoice.objects.filter(pk__in=[i.pk for i in invoices]).order_by("-pk")
    ]
    fresh = Memo.objects.get(pk=credit.pk)
    statements = captured(
        lambda: apply_credit_memo(credit_memo=fresh, targets=chosen, effective_date=ON, actor=None)
    )
    credit.refresh_from_db()
    assert credit.applied_amount == targets
    assert MemoApplication.objects.filter(credit_memo=credit).count() == targets
    moved = MemoApplicationItem.objects.filter(application__credit_memo=credit)
    assert sum(moved.values_list("amount", flat=True), Decimal(0)) == targets
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.balance == invoice.amount - 1
    return statements


@pytest.mark.parametrize(("targets", "items"), [(1, 20), (50, 1), (50, 20)])
def test_applying_runs_the_same_statements_for_any_targets_and_items(targets, items):
    assert_same_statements(apply_statements(1, 1), apply_statements(targets, items))


def test_applying_runs_the_same_statements_for_1_and_20_credit_memo_items():
    assert_same_statements(
        apply_statements(3, 2, credit_items=1),
        # Small credit items: every target draws on several of them.
        apply_statements(3, 2, credit_items=20),
    )


def test_applying_to_debit_memos_runs_the_same_statements_for_1_and_20_targets():
    def statements(targets: int, items: int) -> list[str]:
        acct = account()
        credit = posted_credit_memo(acct, ["1000"])
        debits = []
        charges = catalog([None])
        for _ in range(targets):
            debit = create_memo_from_charges(
                account=acct,
                memo_type=MemoType.DEBIT,
                lines=[ChargeLine(charge=charges[0], amount=D(5 + n)) for n in range(items)],
                actor=None,
                memo_date=MEMO_DATE,
            )
            post_memo(memo=debit, actor=None)
            debits.append(debit)
        chosen = [
            ApplicationTarget(debit_memo=debit, amount=D("2.00"))
            for debit in Memo.objects.filter(pk__in=[d.pk for d in debits])
        ]
        fresh = Memo.objects.get(pk=credit.pk)
        result = captured(
            lambda: apply_credit_memo(
                credit_memo=fresh, targets=chosen, effective_date=ON, actor=None
            )
        )
        for debit in debits:
            debit.refresh_from_db()
            assert debit.balance == debit.amount - 2
        return result

    assert_same_statements(statements(1, 1), statements(20, 5))


def test_unapplying_and_refunding_run_the_same_statements_for_1_and_20_items():
    from memos.models import RefundMethod
    from memos.services.settlement import refund_credit_memo, unapply_credit_memo

    def statements(items: int) -> tuple[list[str], list[str]]:
        acct = account()
        credit = posted_credit_memo(acct, ["1.00"] * items + ["1000"])
        invoice = invoice_of(acct, catalog([None]), items)
        [application] = apply_credit_memo(
            credit_memo=credit,
            targets=[ApplicationTarget(invoice=invoice, amount=invoice.amount)],
            effective_date=ON,
            actor=None,
        )
        unapply = captured(
            lambda: unapply_credit_memo(
                application=MemoApplication.objects.get(pk=application.pk),
                effective_date=ON,
                actor=None,
            )
        )
        refund = captured(
            lambda: refund_credit_memo(
                credit_memo=Memo.objects.get(pk=credit.pk),
                amount=D("500"),
                method=RefundMethod.CHECK,
                refund_date=ON,
                actor=None,
            )
        )
        invoice.refresh_from_db()
        assert invoice.balance == invoice.amount
        assert sum(i.refund_amount for i in credit.items.all()) == D("500")
        return unapply, refund

    small, large = statements(1), statements(20)
    assert_same_statements(small[0], large[0])
    assert_same_statements(small[1], large[1])


def test_an_apply_that_would_break_an_invariant_writes_nothing(monkeypatch):
    """Amounts are checked in memory before anything is written: a split that overdraws an
    item (a bug, which no CheckConstraint on items would catch) is stopped there."""
    from memos.services import settlement

    acct = account()
    credit = posted_credit_memo(acct, ["100"])
    invoice = invoice_of(acct, catalog([None]), 2)  # items of 10.00 and 11.00

    def overdraw(amount, items, rule, currency):
        first, second = items
        return {first.pk: first.balance + 1, second.pk: amount - first.balance - 1}

    monkeypatch.setattr(settlement, "_split_over_target", overdraw)
    with pytest.raises(settlement.InvariantBroken, match="balance outside 0..amount"):
        apply_credit_memo(
            credit_memo=credit,
            targets=[ApplicationTarget(invoice=invoice, amount=D("15.00"))],
            effective_date=ON,
            actor=None,
        )
    assert not MemoApplication.objects.filter(credit_memo=credit).exists()
    assert Memo.objects.get(pk=credit.pk).applied_amount == 0
    assert [i.balance for i in invoice.items.order_by("sort_order")] == [D("10"), D("11")]


# --- the memo page -------------------------------------------------------------------------------


def test_the_memo_page_runs_the_same_statements_for_1_and_200_items(operator_client):
    def page(count: int):
        memo = MemoFactory(memo_type=MemoType.CREDIT, status=MemoStatus.POSTED)
        charge = ChargeFactory()
        for n in range(count):
            MemoItemFactory(memo=memo, charge=charge, sort_order=n)

        def get():
            response = operator_client.get(memo.get_absolute_url())
            assert response.status_code == 200

        return get

    page(1)()  # the session's caches
    assert_same_statements(captured(page(1)), captured(page(200)))
