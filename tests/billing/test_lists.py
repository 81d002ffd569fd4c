"""The list pages (DESIGN.md rule 8, UI.md Lists): bounded queries, keyset pages, filters, sorting,
the htmx partial, and the derived account balance."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.factories import AccountFactory, BillRunFactory, InvoiceFactory, currency
from billing.models import AccountStatus, BillRunStatus, InvoiceStatus
from billing.selectors import account_balance, accounts_with_balance
from memos.factories import MemoFactory
from memos.models import MemoStatus, MemoType, TaxStatus, TransferStatus

pytestmark = pytest.mark.django_db

D1, D2, D3 = dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1)


@pytest.fixture
def client(client, viewer):
    client.force_login(viewer)
    return client


def rows(response) -> list:
    assert response.status_code == 200
    return list(response.context["rows"])


def numbers(response) -> list[str]:
    return [row.number for row in rows(response)]


# --- queries per page ---------------------------------------------------------------------------

LIST_FACTORIES = {
    "/accounts/": lambda: AccountFactory(),
    "/invoices/": lambda: InvoiceFactory(),
    "/memos/": lambda: MemoFactory(),
    "/bill-runs/": lambda: BillRunFactory(account=AccountFactory()),
}


# DESIGN.md rule 8 and the performance issue: at most this many statements per list page (the
# session, the user, the user's roles and permissions, the page with its capped total, and the
# filter form's choices), the same for 1 row and 50.
MAX_QUERIES = 5


def count_queries(client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return len(captured), len(response.context["rows"])


@pytest.mark.parametrize("url", list(LIST_FACTORIES))
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_queries_do_not_grow_with_rows(client, url, htmx):
    make = LIST_FACTORIES[url]
    headers = {"HX-Request": "true"} if htmx else {}
    make()
    client.get(url, headers=headers)  # warm up: session, content types
    with CaptureQueriesContext(connection) as one:
        response = client.get(url, headers=headers)
    assert len(response.context["rows"]) == 1
    for _ in range(49):
        make()
    with CaptureQueriesContext(connection) as fifty:
        response = client.get(url, headers=headers)
    assert len(response.context["rows"]) == 50
    assert len(fifty) == len(one), "\n".join(q["sql"] for q in fifty.captured_queries)
    assert len(one) <= MAX_QUERIES, "\n".join(q["sql"] for q in one.captured_queries)


@pytest.mark.parametrize(
    ("url", "make"),
    [
        (
            "/accounts/?q=a&currency=USD&status=active&sort=-name",
            lambda n: AccountFactory(name=f"Acme {n}"),
        ),
        (
            "/invoices/?account=acme&currency=USD&number=INV&has_balance=true&sort=-balance",
            lambda n: InvoiceFactory(account=AccountFactory(name=f"Acme {n}")),
        ),
        (
            "/bill-runs/?number=BR&status=completed&sort=number",
            lambda n: BillRunFactory(account=AccountFactory()),
        ),
    ],
)
@pytest.mark.parametrize("who", ["viewer", "operator", "reviewer", "billing_admin"])
def test_filtered_lists_stay_within_the_query_budget(client, request, url, make, who):
    client.force_login(request.getfixturevalue(who))
    make(0)
    client.get(url)
    one = count_queries(client, url)
    assert one[1] == 1
    for n in range(1, 50):
        make(n)
    assert count_queries(client, url) == (one[0], 50)
    assert one[0] <= MAX_QUERIES


def test_queries_with_filters_and_sort_do_not_grow(client):
    url = "/invoices/?status=posted&currency=USD&invoice_date_after=2026-01-01&sort=amount"
    InvoiceFactory()
    client.get(url)
    first = count_queries(client, url)
    for _ in range(49):
        InvoiceFactory()
    assert count_queries(client, url) == (first[0], 50)


def test_memo_list_with_mixed_memos_has_bounded_queries(client):
    MemoFactory()
    client.get("/memos/")
    first = count_queries(client, "/memos/")
    for index in range(49):
        MemoFactory(
            memo_type=MemoType.DEBIT if index % 2 else MemoType.CREDIT,
            account=AccountFactory(currency=currency("JPY" if index % 3 else "KWD")),
            amount_excl_tax=Decimal("40"),
        )
    assert count_queries(client, "/memos/") == (first[0], 50)


# --- keyset pagination --------------------------------------------------------------------------


def with_params(url: str, **params) -> str:
    """The URL with extra query parameters (the test client's `data` would replace its query)."""
    extra = urlencode({k: v for k, v in params.items() if v})
    if not extra:
        return url
    return url + ("&" if "?" in url else "?") + extra


def walk_forward(client, url: str) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        response = client.get(with_params(url, after=cursor))
        page = response.context["page"]
        pages.append([row.pk for row in page.rows])
        assert len(pages) < 50, "the walk does not end"
        if not page.next_cursor:
            return pages
        cursor = page.next_cursor


def walk_backward_from_last(client, url: str) -> list[list[int]]:
    """The last page (reached forward), then every page before it by "previous" cursors."""
    cursor, response = None, None
    while True:
        response = client.get(with_params(url, after=cursor))
        if not response.context["page"].next_cursor:
            break
        cursor = response.context["page"].next_cursor
    pages = [[row.pk for row in response.context["page"].rows]]
    page = response.context["page"]
    while page.previous_cursor:
        response = client.get(with_params(url, before=page.previous_cursor))
        page = response.context["page"]
        pages.append([row.pk for row in page.rows])
        assert len(pages) < 50, "the walk does not end"
    return pages


@pytest.fixture
def invoices_with_ties(settings):
    settings.PAGE_SIZE = 5
    account = AccountFactory()
    made = []
    # 13 invoices on three dates (ties on the sort key), amounts with ties too, ids interleaved.
    for index in range(13):
        made.append(
            InvoiceFactory(
                account=account,
                invoice_date=(D1, D2, D3)[index % 3],
                amount_excl_tax=Decimal((index % 4) * 10),
                tax_amount=Decimal("0"),
            )
        )
    return made


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("invoice_date", lambda i: (i.invoice_date, i.pk)),
        ("-invoice_date", lambda i: (i.invoice_date, i.pk)),
        ("amount", lambda i: (i.amount, i.pk)),
        ("-amount", lambda i: (i.amount, i.pk)),
        ("number", lambda i: (i.number, i.pk)),
        ("-due_date", lambda i: (i.due_date, i.pk)),
    ],
)
def test_next_cursors_visit_every_row_once_in_order(client, invoices_with_ties, sort, key):
    expected = [i.pk for i in sorted(invoices_with_ties, key=key, reverse=sort.startswith("-"))]
    pages = walk_forward(client, f"/invoices/?sort={sort}")
    assert [len(p) for p in pages] == [5, 5, 3]
    assert [pk for page in pages for pk in page] == expected


@pytest.mark.parametrize("sort", ["invoice_date", "-invoice_date", "-amount"])
def test_previous_cursors_walk_back(client, invoices_with_ties, sort):
    forward = walk_forward(client, f"/invoices/?sort={sort}")
    backward = walk_backward_from_last(client, f"/invoices/?sort={sort}")
    assert backward == list(reversed(forward))
    # The first page, reached backwards, has no "Newer" link; every other page has one.
    response = client.get(f"/invoices/?sort={sort}")
    assert response.context["page"].previous_cursor is None


def test_pagination_links_keep_filters_and_sort(client, invoices_with_ties):
    response = client.get("/invoices/?sort=invoice_date&status=posted")
    content = response.content.decode()
    next_link = re.search(r'rel="next" href="([^"]+)"', content).group(1).replace("&amp;", "&")
    assert "sort=invoice_date" in next_link and "status=posted" in next_link
    assert "after=" in next_link
    second = client.get("/invoices/" + next_link)
    assert len(rows(second)) == 5
    assert 'rel="prev"' in second.content.decode()


def test_default_sort_paginates_newest_first(client, invoices_with_ties):
    expected = [
        i.pk for i in sorted(invoices_with_ties, key=lambda i: (i.invoice_date, i.pk), reverse=True)
    ]
    assert [pk for page in walk_forward(client, "/invoices/") for pk in page] == expected


@pytest.mark.parametrize(
    ("url", "make"),
    [
        ("/accounts/?sort=name", lambda n: AccountFactory(name=f"Same name {n % 2}")),
        ("/accounts/?sort=-bill_cycle_day", lambda n: AccountFactory(bill_cycle_day=1 + n % 2)),
        ("/memos/?sort=memo_date", lambda n: MemoFactory(memo_date=(D1, D2)[n % 2])),
        ("/memos/?sort=-amount", lambda n: MemoFactory(amount_excl_tax=Decimal(n % 3))),
        ("/bill-runs/", lambda n: BillRunFactory(invoice_date=D1)),
        ("/bill-runs/?sort=invoice_date", lambda n: BillRunFactory(invoice_date=(D1, D2)[n % 2])),
    ],
)
def test_every_list_walks_every_row_once(client, settings, url, make):
    settings.PAGE_SIZE = 4
    made = {make(n).pk for n in range(11)}
    pages = walk_forward(client, url)
    visited = [pk for page in pages for pk in page]
    assert sorted(visited) == sorted(made)
    assert len(visited) == len(set(visited))
    assert walk_backward_from_last(client, url) == list(reversed(pages))


def cursor(value, pk) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, pk]).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "params",
    [
        {"after": "not-a-cursor"},
        {"before": "%%%"},
        {"after": cursor("not-a-date", 1)},
        {"after": cursor(None, 1)},
        {"after": cursor("2026-01-01", "x")},
        {"after": cursor("2026-01-01", 10**30)},
        {"after": base64.urlsafe_b64encode(b'{"a": 1}').decode()},
        {"after": base64.urlsafe_b64encode(b"[1e400, 1e400]").decode()},
        {"sort": "amount", "after": cursor("1e999999999", 1)},
        {"sort": "amount", "after": cursor("NaN", 1)},
        {"sort": "number", "after": cursor(None, 1)},
    ],
)
def test_an_invalid_cursor_shows_a_message_not_a_500(client, params):
    InvoiceFactory()
    response = client.get("/invoices/", params)
    assert response.status_code == 200
    assert response.context["page_error"]
    assert "This page link is no longer valid" in response.content.decode()
    assert rows(response) == []


def test_a_cursor_past_the_end_is_an_empty_page_not_an_error(client):
    invoice = InvoiceFactory()
    response = client.get("/invoices/", {"after": cursor("2000-01-01", invoice.pk)})
    assert rows(response) == []
    assert not response.context["page_error"]


# --- filters ------------------------------------------------------------------------------------


@pytest.fixture
def accounts():
    return {
        "acme": AccountFactory(name="Acme Corporation", batch="Batch2", bill_cycle_day=15),
        "globex": AccountFactory(name="Globex", currency=currency("JPY")),
        "initech": AccountFactory(
            name="Initech (closed)", currency=currency("KWD"), status=AccountStatus.INACTIVE
        ),
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"acme", "globex", "initech"}),
        ({"q": "acme"}, {"acme"}),
        ({"q": "  CORP "}, {"acme"}),
        ({"currency": "JPY"}, {"globex"}),
        ({"currency": "USD"}, {"acme"}),
        ({"status": "inactive"}, {"initech"}),
        ({"status": "active"}, {"acme", "globex"}),
        ({"batch": "Batch2"}, {"acme"}),
        ({"bill_cycle_day": "15"}, {"acme"}),
        ({"status": "active", "currency": "USD"}, {"acme"}),
        ({"q": "nobody"}, set()),
    ],
)
def test_account_filters(client, accounts, params, expected):
    response = client.get("/accounts/", params)
    assert set(numbers(response)) == {accounts[key].number for key in expected}


def test_account_search_by_number_is_exact_and_case_insensitive(client, accounts):
    number = accounts["globex"].number
    assert numbers(client.get("/accounts/", {"q": number.lower()})) == [number]
    # A number prefix is not a name match, so nothing else comes along.
    assert numbers(client.get("/accounts/", {"q": number})) == [number]


@pytest.fixture
def invoices(accounts):
    return {
        "a1": InvoiceFactory(account=accounts["acme"], invoice_date=D1),
        "a2": InvoiceFactory(account=accounts["acme"], invoice_date=D2, balance=Decimal("0")),
        "g1": InvoiceFactory(account=accounts["globex"], invoice_date=D3),
        "draft": InvoiceFactory(
            account=accounts["initech"], invoice_date=D2, status=InvoiceStatus.DRAFT
        ),
        "canceled": InvoiceFactory(
            account=accounts["initech"], invoice_date=D3, status=InvoiceStatus.CANCELED
        ),
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"a1", "a2", "g1", "draft", "canceled"}),
        ({"status": "posted"}, {"a1", "a2", "g1"}),
        ({"status": "draft"}, {"draft"}),
        ({"status": "canceled"}, {"canceled"}),
        ({"currency": "JPY"}, {"g1"}),
        ({"currency": "KWD"}, {"draft", "canceled"}),
        ({"invoice_date_after": "2026-10-01"}, {"a2", "g1", "draft", "canceled"}),
        ({"invoice_date_before": "2026-10-01"}, {"a1", "a2", "draft"}),
        (
            {"invoice_date_after": "2026-10-01", "invoice_date_before": "2026-10-01"},
            {"a2", "draft"},
        ),
        ({"invoice_date_after": "2026-12-01"}, set()),
        ({"account": "globex"}, {"g1"}),
        ({"account": "ACME corp"}, {"a1", "a2"}),
        ({"has_balance": "true"}, {"a1", "g1"}),
        ({"has_balance": "false"}, {"a2", "draft", "canceled"}),
        ({"status": "posted", "has_balance": "false"}, {"a2"}),
    ],
)
def test_invoice_filters(client, invoices, params, expected):
    response = client.get("/invoices/", params)
    assert set(numbers(response)) == {invoices[key].number for key in expected}


def test_invoice_filters_by_number_and_account_number(client, invoices, accounts):
    number = invoices["g1"].number
    assert numbers(client.get("/invoices/", {"number": number})) == [number]
    assert numbers(client.get("/invoices/", {"number": number[-4:].lower()})) == [number]
    by_account = numbers(client.get("/invoices/", {"account": accounts["acme"].number.lower()}))
    assert set(by_account) == {invoices["a1"].number, invoices["a2"].number}


def test_bill_run_and_memo_filters(client):
    completed = BillRunFactory(invoice_date=D1)
    canceled = BillRunFactory(invoice_date=D3, status=BillRunStatus.CANCELED)
    assert numbers(client.get("/bill-runs/", {"status": "canceled"})) == [canceled.number]
    assert numbers(client.get("/bill-runs/", {"invoice_date_before": "2026-10-01"})) == [
        completed.number
    ]
    assert numbers(client.get("/bill-runs/", {"number": completed.number})) == [completed.number]

    credit = MemoFactory()
    debit = MemoFactory(memo_type=MemoType.DEBIT, status=MemoStatus.POSTED)
    transferred = MemoFactory(
        status=MemoStatus.POSTED, transferred_to_accounting=TransferStatus.YES
    )
    tax_error = MemoFactory(tax_status=TaxStatus.ERROR, taxed_by_third_party=True)
    assert numbers(client.get("/memos/", {"memo_type": "debit"})) == [debit.number]
    assert set(numbers(client.get("/memos/", {"status": "posted"}))) == {
        debit.number,
        transferred.number,
    }
    assert numbers(
        client.get("/memos/", {"status": "posted", "transferred_to_accounting": "no"})
    ) == [debit.number]
    # The home page's "Review tax errors" link.
    assert numbers(client.get("/memos/", {"tax_status": "error"})) == [tax_error.number]
    assert numbers(client.get("/memos/", {"account": credit.account.number})) == [credit.number]


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/invoices/", {"invoice_date_after": "not-a-date"}),
        ("/invoices/", {"invoice_date_before": "2026-02-30"}),
        ("/invoices/", {"status": "bogus"}),
        ("/invoices/", {"currency": "XXX"}),
        ("/invoices/", {"has_balance": "maybe"}),
        ("/invoices/", {"status": "posted", "invoice_date_after": "yesterday"}),
        ("/accounts/", {"status": "bogus"}),
        ("/accounts/", {"currency": "usd!"}),
        ("/accounts/", {"bill_cycle_day": "first"}),
        ("/accounts/", {"batch": "Batch99"}),
        ("/memos/", {"memo_type": "refund"}),
        ("/memos/", {"memo_date_after": "2026-13-01"}),
        ("/memos/", {"transferred_to_accounting": "maybe"}),
        ("/memos/", {"tax_status": "bogus"}),
        ("/bill-runs/", {"status": "running"}),
        ("/bill-runs/", {"invoice_date_before": "soon"}),
    ],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_an_invalid_filter_shows_an_error_and_no_rows(client, url, params, htmx):
    account = AccountFactory()
    InvoiceFactory(account=account)
    MemoFactory(account=account)
    BillRunFactory()
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get(url, params, headers=headers)
    assert response.status_code == 200
    assert response.context["filterset"].errors
    assert rows(response) == []
    content = response.content.decode()
    assert 'data-testid="filter-errors"' in content
    assert "No results until the filters are fixed" in content
    assert account.number not in content
    # The field with the bad value is marked, so the error sits beside it (full page only).
    if not htmx:
        assert "is-invalid" in content


def test_htmx_request_gets_only_the_results_partial(client, invoices):
    response = client.get("/invoices/", {"status": "posted"}, headers={"HX-Request": "true"})
    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content and "<body" not in content
    assert content.lstrip().startswith('<div id="results">')
    assert 'id="filter-form"' not in content
    assert invoices["a1"].number in content and invoices["draft"].number not in content
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize("url", ["/accounts/", "/invoices/", "/memos/", "/bill-runs/"])
def test_every_list_has_a_results_partial_and_varies_on_htmx(client, url):
    full = client.get(url)
    partial = client.get(url, headers={"HX-Request": "true"})
    assert "<html" in full.content.decode() and 'id="results"' in full.content.decode()
    assert "<html" not in partial.content.decode()
    assert 'id="results"' in partial.content.decode()
    for response in (full, partial):
        assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(client):
    response = client.get(
        "/invoices/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.content.decode()


def test_applied_filters_are_removable_chips(client, invoices):
    response = client.get("/invoices/", {"status": "posted", "currency": "JPY", "sort": "amount"})
    chips = {chip["label"]: chip for chip in response.context["chips"]}
    assert set(chips) == {"Status", "Currency"}
    assert chips["Status"]["value"] == "Posted"
    assert "status=" not in chips["Status"]["url"]
    assert "currency=JPY" in chips["Status"]["url"] and "sort=amount" in chips["Status"]["url"]


# --- sorting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["number", "invoice_date", "due_date", "amount", "balance"])
@pytest.mark.parametrize("descending", [False, True])
def test_invoice_sorts(client, field, descending):
    made = [
        InvoiceFactory(
            invoice_date=D1 + dt.timedelta(days=n * 7 % 5), amount_excl_tax=Decimal(n * 37 % 11)
        )
        for n in range(8)
    ]
    sort = ("-" if descending else "") + field
    response = client.get("/invoices/", {"sort": sort})
    expected = sorted(made, key=lambda i: (getattr(i, field), i.pk), reverse=descending)
    assert numbers(response) == [i.number for i in expected]
    assert response.context["sort_param"] == sort
    header = response.context["sort_headers"][field]
    assert header["aria_sort"] == ("descending" if descending else "ascending")
    # A click on the sorted column reverses it.
    assert f"sort={'' if descending else '-'}{field}" in header["url"]


@pytest.mark.parametrize(
    ("url", "fields", "make"),
    [
        (
            "/accounts/",
            ["number", "name", "bill_cycle_day"],
            lambda n: AccountFactory(name=f"Name {n * 7 % 5}", bill_cycle_day=1 + n * 3 % 4),
        ),
        (
            "/memos/",
            ["number", "memo_date", "amount"],
            lambda n: MemoFactory(
                memo_date=D1 + dt.timedelta(days=n * 3 % 4), amount_excl_tax=Decimal(n * 5 % 3)
            ),
        ),
        (
            "/bill-runs/",
            ["number", "invoice_date", "created_at"],
            lambda n: BillRunFactory(invoice_date=D1 + dt.timedelta(days=n * 3 % 4)),
        ),
    ],
)
def test_other_list_sorts(client, url, fields, make):
    made = [make(n) for n in range(7)]
    for field in fields:
        for descending in (False, True):
            response = client.get(url, {"sort": ("-" if descending else "") + field})
            expected = sorted(
                made, key=lambda o, f=field: (getattr(o, f), o.pk), reverse=descending
            )
            assert numbers(response) == [o.number for o in expected], (field, descending)


@pytest.mark.parametrize(
    ("url", "default"),
    [
        ("/invoices/", "-invoice_date"),
        ("/accounts/", "number"),
        ("/memos/", "-memo_date"),
        ("/bill-runs/", "-created_at"),
    ],
)
@pytest.mark.parametrize("bad", ["bogus", "-bogus", "id", "account__name", "-currency", "--number"])
def test_an_unknown_sort_falls_back_to_the_default(client, url, default, bad):
    AccountFactory()
    InvoiceFactory()
    MemoFactory()
    BillRunFactory()
    expected = numbers(client.get(url))
    response = client.get(url, {"sort": bad})
    assert response.context["sort_param"] == default
    assert numbers(response) == expected


# --- the account balance ------------------------------------------------------------------------


@pytest.fixture
def account_with_documents():
    account = AccountFactory()
    other = AccountFactory()
    # Posted invoices: balances 110 and 60 count.
    InvoiceFactory(account=account)
    InvoiceFactory(account=account, balance=Decimal("60"))
    # Drafts and canceled invoices never count, whatever their balance column holds.
    InvoiceFactory(account=account, status=InvoiceStatus.DRAFT, balance=Decimal("55"))
    InvoiceFactory(account=account, status=InvoiceStatus.CANCELED, balance=Decimal("77"))
    # Posted debit memo: its balance (30 of 44) counts; draft / canceled ones don't.
    MemoFactory(
        account=account, memo_type=MemoType.DEBIT, status=MemoStatus.POSTED, balance=Decimal("30")
    )
    MemoFactory(account=account, memo_type=MemoType.DEBIT)
    MemoFactory(account=account, memo_type=MemoType.DEBIT, status=MemoStatus.CANCELED)
    # Posted credit memo: amount 44, applied 10, refunded 5 -> 29 unapplied is subtracted.
    MemoFactory(
        account=account,
        status=MemoStatus.POSTED,
        applied_amount=Decimal("10"),
        refund_amount=Decimal("5"),
    )
    MemoFactory(account=account)
    MemoFactory(account=account, status=MemoStatus.CANCELED)
    # Another account's documents never count.
    InvoiceFactory(account=other)
    MemoFactory(account=other, status=MemoStatus.POSTED)
    return account, other


def test_account_balance_is_invoices_plus_debits_minus_unapplied_credits(account_with_documents):
    account, other = account_with_documents
    expected = Decimal("110") + Decimal("60") + Decimal("30") - Decimal("29")
    assert account_balance(account) == expected
    annotated = accounts_with_balance().get(pk=account.pk)
    assert annotated.balance == expected
    assert annotated.invoice_balance == Decimal("170")
    assert annotated.debit_balance == Decimal("30")
    assert annotated.credit_unapplied == Decimal("29")
    assert account_balance(other) == Decimal("110") - Decimal("44")


def test_account_without_documents_has_zero_balance():
    assert account_balance(AccountFactory()) == Decimal("0")


def test_only_credits_make_a_negative_balance():
    account = AccountFactory()
    MemoFactory(account=account, status=MemoStatus.POSTED)
    assert account_balance(account) == Decimal("-44")


def test_account_page_and_list_show_the_balance(client, account_with_documents):
    account, _ = account_with_documents
    response = client.get(f"/accounts/{account.number}/")
    assert response.status_code == 200
    shown = re.search(r'data-testid="account-balance">([^<]*)<', response.content.decode())
    assert shown.group(1).strip() == "USD 171.00"
    listed = client.get("/accounts/", {"q": account.number})
    (row,) = rows(listed)
    assert row.balance == Decimal("171")
    assert "171.00" in listed.content.decode()


def test_account_balance_in_a_currency_without_decimals(client):
    account = AccountFactory(currency=currency("JPY"))
    InvoiceFactory(account=account, amount_excl_tax=Decimal("1000"), tax_amount=Decimal("100"))
    MemoFactory(account=account, status=MemoStatus.POSTED, applied_amount=Decimal("4"))
    response = client.get(f"/accounts/{account.number}/")
    shown = re.search(r'data-testid="account-balance">([^<]*)<', response.content.decode())
    assert shown.group(1).strip() == "JPY 1,060"
