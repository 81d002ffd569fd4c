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

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.factories import ChargeFactory, TaxCodeFactory, TaxRateFactory
from billing.models import Charge, Invoice, InvoiceItem
from billing.services import InvoiceLine, create_invoice
from memos.factories import MemoFactory, MemoItemFactory
from memos.models import Memo, MemoStatus, MemoType
from memos.services import ChargeLine, create_memo_from_charges, create_memo_from_invoice
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
    assert Memo.objects.get(invoice=large).items.count() == 200


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
            data[f"line-l{n}-amount"] = str(10 + n)

        def post():
            response = operator_client.post(reverse("memos:memo_create") + "?type=credit", data)
            assert response.status_code == 302, response.content.decode()[:2000]

        return post

    create(2)()
    statements = captured(create(200))
    assert_same_statements(captured(create(10)), statements)
    assert_within_goal(statements)


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
