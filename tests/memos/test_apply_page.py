"""The apply page's grid (issue 10, Apply): rows oldest due first, Apply max, the search over the
open documents, the over-application beside the total, the rows' labels and invalid states, and
statements per request that do not grow with the rows. The page's basics (what it lists, every
refusal) are in test_settlement_views.py."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import Invoice
from memos.models import MemoApplication
from tests.memos.creation_helpers import MEMO_DATE, account
from tests.memos.test_settlement import (
    apply,
    credit_on,
    debit_on,
    fresh,
    invoice_on,
    snapshot,
    to_invoice,
)
from tests.memos.test_settlement_views import key, page_errors, row_errors, total_errors, url

pytestmark = pytest.mark.django_db
ON = "2025-03-25"
HX = {"HX-Request": "true"}


@pytest.fixture
def op(client, operator):
    client.force_login(operator)
    return client


def due_on(invoice: Invoice, day: dt.date) -> Invoice:
    Invoice.objects.filter(pk=invoice.pk).update(due_date=day)
    return fresh(invoice)


def row_order(html: str) -> list[str]:
    """The row keys in the order the page lists them."""
    return re.findall(r'<tbody id="((?:invoice|debit)-\d+)-row"', html)


def amount_value(html: str, doc) -> str:
    match = re.search(rf'name="{key(doc)}-amount" value="([^"]*)"', html)
    assert match, f"no amount input for {doc.number}"
    return match.group(1)


def shown_rows(html: str) -> set[str]:
    return set(re.findall(r'<tbody id="((?:invoice|debit)-\d+)-row">', html))


def hidden_rows(html: str) -> set[str]:
    return set(re.findall(r'<tbody id="((?:invoice|debit)-\d+)-row" hidden>', html))


# --- oldest due first ----------------------------------------------------------------------------


def test_documents_are_listed_oldest_due_first_invoices_and_debit_memos_together(op):
    acct = account("USD")
    credit = credit_on(acct, "100")
    late = due_on(invoice_on(acct, "10"), dt.date(2025, 6, 1))
    early = due_on(invoice_on(acct, "10"), dt.date(2025, 4, 1))
    # A debit memo is due on its memo date: between the two invoices.
    debit = debit_on(acct, "10", memo_date=dt.date(2025, 5, 1))
    html = op.get(url("memo_apply", credit)).content.decode()
    assert row_order(html) == [key(early), key(debit), key(late)]
    assert "oldest due first" in html


# --- Apply max -----------------------------------------------------------------------------------


@pytest.fixture
def grid():
    """A USD credit memo of 100.00 and three open documents: 50.00, 40.00 and a debit memo of
    20.00."""
    acct = account("USD")
    credit = credit_on(acct, "60", "40")
    return credit, invoice_on(acct, "30", "20"), invoice_on(acct, "25", "15"), debit_on(acct, "20")


def apply_max(client, memo, row, data=None):
    return client.post(
        url("memo_apply", memo),
        {"effective_date": ON, **(data or {}), "preview": "1", "apply_max": key(row)},
        headers=HX,
    )


def test_apply_max_fills_the_row_with_its_balance_when_enough_is_left(op, grid):
    credit, inv1, inv2, _ = grid
    before = snapshot()
    response = apply_max(op, credit, inv2, {key(inv1) + "-amount": "30"})
    html = response.content.decode()
    assert response.status_code == 200
    # The row (to swap for the old one) and the totals (out of band, into the live region).
    assert html.strip().startswith(f'<tbody id="{key(inv2)}-row">')
    assert amount_value(html, inv2) == "40.00"
    assert 'id="apply-remaining" hx-swap-oob="innerHTML"' in html
    assert 'data-testid="apply-total">USD 70.00' in html
    assert 'data-testid="apply-remaining" class="">USD 30.00' in html
    assert snapshot() == before


def test_apply_max_takes_what_the_other_rows_leave_when_less_than_the_balance(op, grid):
    credit, inv1, inv2, debit = grid
    html = apply_max(
        op, credit, inv1, {key(inv2) + "-amount": "40", key(debit) + "-amount": "25.5"}
    ).content.decode()
    # 100.00 - 40.00 - 25.50 = 34.50 < the balance 50.00.
    assert amount_value(html, inv1) == "34.50"
    assert 'data-testid="apply-remaining" class="">USD 0.00' in html


def test_apply_max_is_zero_when_the_other_rows_take_everything(op, grid):
    credit, inv1, inv2, debit = grid
    html = apply_max(
        op, credit, debit, {key(inv1) + "-amount": "50", key(inv2) + "-amount": "60"}
    ).content.decode()
    assert amount_value(html, debit) == "0.00"


def test_apply_max_counts_the_other_rows_item_amounts_and_clears_its_own(op, grid):
    credit, inv1, inv2, _ = grid
    other_item = inv2.items.order_by("sort_order", "id").first()
    own_item = inv1.items.order_by("sort_order", "id").first()
    html = apply_max(
        op,
        credit,
        inv1,
        {
            f"{key(inv2)}-item-{other_item.pk}": "25",
            f"{key(inv2)}-amount": "99",  # replaced by the item amounts
            f"{key(inv1)}-item-{own_item.pk}": "5",
        },
    ).content.decode()
    assert amount_value(html, inv1) == "50.00"
    # Its own item amounts would replace the figure: they are cleared.
    assert f'name="{key(inv1)}-item-{own_item.pk}" value=""' in html
    assert 'data-testid="apply-total">USD 75.00' in html


def test_apply_max_after_part_of_the_memo_was_applied(op, grid):
    credit, inv1, inv2, _ = grid
    apply(credit, to_invoice(inv1, "45"))
    html = apply_max(op, fresh(credit), inv2).content.decode()
    # 55.00 left of the memo, the balance is 40.00.
    assert amount_value(html, inv2) == "40.00"
    html = apply_max(op, fresh(credit), inv2, {key(inv1) + "-amount": "5"}).content.decode()
    assert amount_value(html, inv2) == "40.00"
    html = apply_max(op, fresh(credit), inv2, {key(inv1) + "-amount": "20"}).content.decode()
    assert amount_value(html, inv2) == "35.00"


@pytest.mark.parametrize(
    ("code", "credit_amount", "balance", "figure"),
    [("JPY", "1000", "700", "700"), ("KWD", "10.5", "12.25", "10.500")],
)
def test_apply_max_is_in_the_currency_places(op, code, credit_amount, balance, figure):
    acct = account(code)
    credit = credit_on(acct, credit_amount)
    invoice = invoice_on(acct, balance)
    html = apply_max(op, credit, invoice).content.decode()
    assert amount_value(html, invoice) == figure


def test_apply_max_of_an_unknown_row_is_only_a_preview(op, grid):
    credit, inv1, *_ = grid
    before = snapshot()
    response = op.post(
        url("memo_apply", credit),
        {"effective_date": ON, key(inv1) + "-amount": "5", "preview": "1", "apply_max": "x-1"},
        headers=HX,
    )
    assert response.status_code == 200
    assert 'data-testid="apply-total">USD 5.00' in response.content.decode()
    assert snapshot() == before


def test_the_filled_figure_is_accepted_by_save(op, grid):
    credit, inv1, inv2, debit = grid
    typed = {key(inv1) + "-amount": "50", key(debit) + "-amount": "20"}
    figure = amount_value(apply_max(op, credit, inv2, typed).content.decode(), inv2)
    assert figure == "30.00"
    response = op.post(
        url("memo_apply", credit), {"effective_date": ON, **typed, key(inv2) + "-amount": figure}
    )
    assert response.status_code == 302
    assert fresh(credit).unapplied_amount == 0


# --- search ---------------------------------------------------------------------------------------


@pytest.fixture
def many():
    acct = account("USD")
    credit = credit_on(acct, "5000")
    a = due_on(invoice_on(acct, "1200.5"), dt.date(2025, 4, 2))
    b = due_on(invoice_on(acct, "75"), dt.date(2025, 5, 17))
    c = debit_on(acct, "33", memo_date=dt.date(2025, 3, 20))
    return credit, a, b, c


def search(client, memo, q, data=None):
    return client.post(
        url("memo_apply", memo),
        {"effective_date": ON, **(data or {}), "q": q, "search": "1"},
        headers=HX,
    )


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("by number", "a"),
        ("2025-05", "b"),  # a due date
        ("1,200.50", "a"),  # an amount as shown
        ("1200.5", "a"),  # as typed
        ("33.00", "c"),
        ("2025 75", "b"),  # every word
    ],
)
def test_search_narrows_the_rows_by_number_date_or_amount(op, many, q, expected):
    credit, a, b, c = many
    docs = {"a": a, "b": b, "c": c}
    q = a.number.lower() if q == "by number" else q
    before = snapshot()
    response = search(op, credit, q)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith('<div class="table-responsive" id="apply-table">')
    assert shown_rows(html) == {key(docs[expected])}
    assert hidden_rows(html) == {key(d) for name, d in docs.items() if name != expected}
    # The count, out of band into the status line that stays in the page.
    assert '<p id="apply-shown" hx-swap-oob="innerHTML">Showing 1 of 3 open documents.' in html
    assert snapshot() == before


def test_search_keeps_what_was_typed_and_keeps_the_typed_rows_listed(op, many):
    credit, a, b, c = many
    item = a.items.get()
    typed = {key(b) + "-amount": "12.34", f"{key(a)}-item-{item.pk}": "7"}
    html = search(op, credit, c.number, typed).content.decode()
    # b and a have an amount typed: they stay listed, their amounts still there; c matches.
    assert shown_rows(html) == {key(a), key(b), key(c)}
    assert amount_value(html, b) == "12.34"
    assert f'name="{key(a)}-item-{item.pk}" value="7"' in html
    html = search(op, credit, "no such thing", {key(b) + "-amount": "12.34"}).content.decode()
    assert shown_rows(html) == {key(b)}
    # A hidden row's inputs are still in the form: nothing typed is lost.
    assert amount_value(html, a) == ""
    assert key(a) in hidden_rows(html)


def test_search_that_matches_nothing_says_so(op, many):
    credit, *_ = many
    html = search(op, credit, "zzz").content.decode()
    assert "No open document matches “zzz”." in html
    assert "Showing 0 of 3 open documents." in html


def test_a_search_in_the_address_narrows_the_page(op, many):
    credit, a, b, c = many
    html = op.get(url("memo_apply", credit) + "?q=2025-04").content.decode()
    assert shown_rows(html) == {key(a)}
    assert 'name="q" id="apply-q" value="2025-04"' in html


# --- over-application: beside the total, nothing changes, never a negative remainder ------------


def test_over_application_is_refused_beside_the_total_and_changes_nothing(op, grid):
    credit, inv1, inv2, debit = grid
    before = snapshot()
    response = op.post(
        url("memo_apply", credit),
        {
            "effective_date": ON,
            key(inv1) + "-amount": "50",
            key(inv2) + "-amount": "40",
            key(debit) + "-amount": "10.01",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "USD 100.01 is more than the unapplied amount USD 100.00" in total_errors(html)
    assert not page_errors(html)
    assert 'data-testid="apply-remaining" class="text-danger">USD 0.00' in html
    assert "-0.01" not in html
    assert snapshot() == before
    assert not MemoApplication.objects.exists()


def test_a_row_over_its_balance_is_an_error_beside_the_row_as_one_types(op, grid):
    credit, inv1, inv2, _ = grid
    html = op.post(
        url("memo_apply", credit),
        {"effective_date": ON, key(inv1) + "-amount": "50.01", "preview": "1"},
        headers=HX,
    ).content.decode()
    # Out of band into the row's error block, which stays in the page.
    block = re.search(
        rf'<div id="{key(inv1)}-errors" hx-swap-oob="innerHTML">(.*?)</div>\n', html, re.S
    )
    assert "At most USD 50.00 can be applied" in block.group(1)
    assert f'<div id="{key(inv2)}-errors" hx-swap-oob="innerHTML"></div>' in html


# --- labels and invalid states -------------------------------------------------------------------


def test_each_row_control_is_labelled_with_its_row_and_invalid_ones_say_so(op, grid):
    credit, inv1, inv2, _ = grid
    item = inv1.items.order_by("sort_order", "id").first()
    html = op.post(
        url("memo_apply", credit), {"effective_date": ON, key(inv1) + "-amount": "abc"}
    ).content.decode()
    assert f'aria-label="Amount, {inv1.number}"' in html
    assert f'aria-label="Apply max, {inv1.number}"' in html
    assert f'aria-label="Amount, {item.charge_name}, {inv1.number}"' in html
    first = re.search(rf'<input [^>]*name="{key(inv1)}-amount"[^>]*>', html).group(0)
    second = re.search(rf'<input [^>]*name="{key(inv2)}-amount"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in first and "is-invalid" in first
    assert "aria-invalid" not in second
    assert "Enter a number." in row_errors(html, inv1)


def test_the_totals_update_inside_a_live_region_that_stays(op, grid):
    credit, *_ = grid
    html = op.get(url("memo_apply", credit)).content.decode()
    region = re.search(r'<div id="apply-remaining"[^>]*>', html).group(0)
    assert 'aria-live="polite"' in region
    assert 'hx-target="#apply-remaining" hx-swap="innerHTML"' in html


# --- statements per request do not grow with the rows -------------------------------------------


def statements_for(client, rows: int) -> dict[str, int]:
    acct = account("USD")
    credit = credit_on(acct, "100000", memo_date=MEMO_DATE)
    docs = [invoice_on(acct, "10", "5") for _ in range(rows)]
    typed = {key(doc) + "-amount": "1" for doc in docs}
    requests = {
        "page": lambda: client.get(url("memo_apply", credit)),
        "preview": lambda: client.post(
            url("memo_apply", credit), {"effective_date": ON, **typed, "preview": "1"}, headers=HX
        ),
        "apply max": lambda: apply_max(client, credit, docs[0], typed),
        "search": lambda: search(client, credit, docs[0].number, typed),
        "save": lambda: client.post(url("memo_apply", credit), {"effective_date": ON, **typed}),
    }
    counts = {}
    for name, request in requests.items():
        with CaptureQueriesContext(connection) as queries:
            response = request()
        assert response.status_code in (200, 302), name
        counts[name] = len(queries.captured_queries)
    assert fresh(credit).applied_amount == rows
    return counts


def test_each_request_of_the_page_runs_the_same_statements_for_1_and_50_documents(op):
    assert statements_for(op, 1) == statements_for(op, 50)


def test_without_htmx_search_and_apply_max_answer_the_whole_page_and_save_nothing(op, grid):
    credit, inv1, inv2, _ = grid
    before = snapshot()
    data = {"effective_date": ON, key(inv1) + "-amount": "30"}
    response = op.post(url("memo_apply", credit), {**data, "q": inv2.number, "search": "1"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert shown_rows(html) == {key(inv1), key(inv2)}
    response = op.post(url("memo_apply", credit), {**data, "apply_max": key(inv2)})
    html = response.content.decode()
    assert "<html" in html
    assert amount_value(html, inv2) == "40.00"
    assert amount_value(html, inv1) == "30"
    assert snapshot() == before
