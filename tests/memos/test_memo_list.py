"""The memo list /memos/ and its CSV export /memos/export.csv (issue 3; DESIGN.md rule 8, UI.md
Lists): bounded queries, every filter and its invalid values, the columns, the export's rows,
order and format, and who may read, export and create."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import permissions as p
from billing.factories import (
    AccountFactory,
    BillRunFactory,
    InvoiceFactory,
    UserFactory,
    currency,
)
from memos.factories import MemoFactory, ReasonCodeFactory, reason_code
from memos.models import (
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCode,
    ReasonCodeType,
    TaxStatus,
    TransferStatus,
)
from memos.views import export as memo_views

pytestmark = pytest.mark.django_db

D1, D2, D3 = dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1)
LIST, EXPORT = "/memos/", "/memos/export.csv"


@pytest.fixture
def client(client, viewer):
    client.force_login(viewer)
    return client


def rows(response) -> list:
    assert response.status_code == 200
    return list(response.context["rows"])


def numbers(response) -> list[str]:
    return [row.number for row in rows(response)]


def exported(response) -> list[list[str]]:
    """The CSV rows of a streamed export, header first."""
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def code(code_type: str, name: str) -> ReasonCode:
    return ReasonCode.objects.get(code_type=code_type, name=name)


def memo_with_everything(index: int):
    """A memo whose row shows every relation: account, currency, invoice, bill run, reason code."""
    account = AccountFactory(
        name=f"Customer account {index}", currency=currency(("USD", "JPY", "KWD")[index % 3])
    )
    credit = index % 2 == 0
    return MemoFactory(
        memo_type=MemoType.CREDIT if credit else MemoType.DEBIT,
        account=account,
        status=MemoStatus.POSTED,
        source=MemoSource.BILL_RUN if credit else MemoSource.INVOICE,
        invoice=InvoiceFactory(account=account),
        bill_run=BillRunFactory(),
        reason_code=ReasonCodeFactory(
            code_type=ReasonCodeType.CREDIT_MEMO if credit else ReasonCodeType.DEBIT_MEMO
        ),
        reversed=credit and index % 4 == 0,
        amount_excl_tax=Decimal("40"),
    )


# --- queries per page -----------------------------------------------------------------------------


def count(client, url: str, headers=None) -> tuple[int, int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers or {})
    assert response.status_code == 200
    sql = "\n".join(q["sql"] for q in captured.captured_queries)
    return len(captured), len(response.context["rows"]), sql


# The performance issue: at most 5 statements per page (session, user, the user's roles and
# permissions, the page with its capped total, the reason codes of the filter form).
MAX_QUERIES = 5


@pytest.mark.parametrize(
    "url",
    [
        LIST,
        LIST + "?sort=amount&status=posted&amount_min=1&memo_date_after=2000-01-01",
        LIST + "?sort=-number&source=bill_run&memo_type=credit&transferred_to_accounting=no",
        LIST + "?number=M0&account=account&sort=-amount",
    ],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("who", ["viewer", "reviewer"])
def test_queries_are_the_same_for_1_and_50_rows(client, request, url, htmx, who):
    # A reviewer's rows carry the in-place Transferred to Accounting control and checkboxes.
    client.force_login(request.getfixturevalue(who))
    headers = {"HX-Request": "true"} if htmx else {}
    memo_with_everything(0)
    client.get(url, headers=headers)  # warm up: session, content types
    one, shown, sql = count(client, url, headers)
    assert shown == 1
    assert one <= MAX_QUERIES, sql
    for index in range(2, 2 + 98):
        memo_with_everything(index)
    fifty, shown, sql = count(client, url, headers)
    assert shown == 50
    assert fifty == one, sql


def test_a_reason_code_filter_costs_no_query_per_row(client):
    first = memo_with_everything(0)
    url = f"{LIST}?reason_code={first.reason_code_id}"
    client.get(url)
    one, shown, _ = count(client, url)
    assert shown == 1
    for index in range(49):
        MemoFactory(
            reason_code=first.reason_code,
            source=MemoSource.INVOICE,
            invoice=InvoiceFactory(),
            bill_run=BillRunFactory(),
            memo_date=D1 + dt.timedelta(days=index),
        )
    fifty, shown, sql = count(client, url)
    assert shown == 50
    assert fifty == one, sql
    # Validating the code, its chip's label and the form's options read the codes once.
    assert one <= MAX_QUERIES, sql
    assert sql.count('FROM "memos_reasoncode"') == 1, sql


# --- the filters ----------------------------------------------------------------------------------


@pytest.fixture
def memos():
    acme = AccountFactory(name="Acme Corporation")
    globex = AccountFactory(name="Globex", currency=currency("JPY"))
    initech = AccountFactory(name="Initech", currency=currency("KWD"))
    return {
        # USD 44.00, Draft credit memo from charges.
        "credit": MemoFactory(account=acme, memo_date=D1),
        # JPY 1,000, Posted debit memo from an invoice.
        "debit": MemoFactory(
            memo_type=MemoType.DEBIT,
            account=globex,
            status=MemoStatus.POSTED,
            source=MemoSource.INVOICE,
            invoice=InvoiceFactory(account=globex),
            memo_date=D2,
            amount_excl_tax=Decimal("1000"),
            tax_amount=Decimal("0"),
            balance=Decimal("600"),
        ),
        # USD 1,234.50, Posted, reversed, transferred bill-run credit memo.
        "billrun": MemoFactory(
            account=acme,
            status=MemoStatus.POSTED,
            source=MemoSource.BILL_RUN,
            bill_run=BillRunFactory(),
            memo_date=D3,
            amount_excl_tax=Decimal("1200"),
            tax_amount=Decimal("34.50"),
            applied_amount=Decimal("200"),
            refund_amount=Decimal("34"),
            reversed=True,
            transferred_to_accounting=TransferStatus.YES,
            reason_code=code(ReasonCodeType.CREDIT_MEMO, "Service Unavailable"),
        ),
        # KWD 1.250, Canceled, taxed by the third-party engine, which failed.
        "kwd": MemoFactory(
            account=initech,
            status=MemoStatus.CANCELED,
            memo_date=D2,
            amount_excl_tax=Decimal("1.000"),
            tax_amount=Decimal("0.250"),
            taxed_by_third_party=True,
            tax_status=TaxStatus.ERROR,
        ),
    }


ALL = {"credit", "debit", "billrun", "kwd"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ALL),
        ({"memo_type": "credit"}, {"credit", "billrun", "kwd"}),
        ({"memo_type": "debit"}, {"debit"}),
        ({"status": "draft"}, {"credit"}),
        ({"status": "posted"}, {"debit", "billrun"}),
        ({"status": "canceled"}, {"kwd"}),
        ({"account": "acme"}, {"credit", "billrun"}),
        ({"account": "  GLOBEX "}, {"debit"}),
        ({"account": "nobody"}, set()),
        ({"memo_date_after": "2026-10-01"}, {"debit", "billrun", "kwd"}),
        ({"memo_date_before": "2026-09-30"}, {"credit"}),
        ({"memo_date_after": "2026-10-01", "memo_date_before": "2026-10-01"}, {"debit", "kwd"}),
        ({"amount_min": "44"}, {"credit", "debit", "billrun"}),
        ({"amount_max": "44.00"}, {"credit", "kwd"}),
        ({"amount_min": "44", "amount_max": "1000"}, {"credit", "debit"}),
        ({"amount_min": "1234.5"}, {"billrun"}),
        ({"amount_min": "0"}, ALL),
        # KWD amounts carry three decimals, so the filter takes them.
        ({"amount_min": "1.250", "amount_max": "1.25"}, {"kwd"}),
        ({"amount_max": "1.249"}, set()),
        ({"transferred_to_accounting": "yes"}, {"billrun"}),
        ({"transferred_to_accounting": "no"}, {"credit", "debit", "kwd"}),
        ({"source": "bill_run"}, {"billrun"}),
        ({"source": "invoice"}, {"debit"}),
        ({"source": "charges"}, {"credit", "kwd"}),
        ({"source": "reversal"}, set()),
        ({"tax_status": "error"}, {"kwd"}),
        ({"tax_status": "complete"}, set()),
        ({"number": "cm"}, {"credit", "billrun", "kwd"}),
        ({"number": "DM"}, {"debit"}),
        ({"memo_type": "credit", "status": "posted", "amount_min": "100"}, {"billrun"}),
    ],
)
def test_filters(client, memos, params, expected):
    response = client.get(LIST, params)
    assert not response.context["filterset"].errors
    assert set(numbers(response)) == {memos[key].number for key in expected}


def test_number_search_is_a_case_insensitive_contains(client, memos):
    number = memos["billrun"].number
    assert numbers(client.get(LIST, {"number": number.lower()})) == [number]
    assert number[-3:] in number
    found = numbers(client.get(LIST, {"number": number[-3:]}))
    assert number in found


def test_account_filter_is_a_whole_number_in_any_case_or_part_of_a_name(client, memos):
    acme = memos["credit"].account
    expected = {memos["credit"].number, memos["billrun"].number}
    assert set(numbers(client.get(LIST, {"account": f" {acme.number.lower()} "}))) == expected
    assert set(numbers(client.get(LIST, {"account": "CORPORATION"}))) == expected
    # Part of a number is no account's number, and no name holds it.
    assert numbers(client.get(LIST, {"account": acme.number[:-1]})) == []


def test_a_whole_account_number_means_that_account_only(client, memos):
    """Not also the accounts whose name happens to contain it."""
    acme = memos["credit"].account
    namesake = MemoFactory(account=AccountFactory(name=f"Formerly {acme.number} Ltd"))
    expected = {memos["credit"].number, memos["billrun"].number}
    assert set(numbers(client.get(LIST, {"account": acme.number}))) == expected
    assert numbers(client.get(LIST, {"account": "formerly"})) == [namesake.number]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ((ReasonCodeType.CREDIT_MEMO, "Service Unavailable"), {"billrun"}),
        ((ReasonCodeType.CREDIT_MEMO, "Correcting Invoice Error"), {"credit", "kwd"}),
        ((ReasonCodeType.DEBIT_MEMO, "Correcting Invoice Error"), {"debit"}),
        ((ReasonCodeType.DEBIT_MEMO, "Write-off"), set()),
    ],
)
def test_reason_code_filter(client, memos, reason, expected):
    response = client.get(LIST, {"reason_code": code(*reason).pk})
    assert set(numbers(response)) == {memos[key].number for key in expected}


def test_reason_code_choices_say_whose_code_it_is(client):
    inactive = ReasonCodeFactory(code_type=ReasonCodeType.DEBIT_MEMO, name="Old", active=False)
    response = client.get(LIST)
    choices = [
        label for value, label in response.context["filter_form"].fields["reason_code"].choices
    ]
    assert choices[0] == "Any reason code"
    assert "Credit memo: Write-off" in choices and "Debit memo: Write-off" in choices
    assert "Debit memo: Old (inactive)" in choices
    # Credit memo codes first, then debit memo codes; refund codes never sit on a memo.
    assert choices.index("Credit memo: Write-off") < choices.index("Debit memo: Ad hoc Debit")
    assert not any("Refund" in label or "Account Closure" in label for label in choices)
    content = response.content.decode()
    assert f'<option value="{inactive.pk}">Debit memo: Old (inactive)</option>' in content


def test_filters_are_labelled_and_split_into_primary_and_more(client):
    response = client.get(LIST)
    content = response.content.decode()
    primary, more = content.split('id="more-filters"', 1)
    for name in ("number", "memo_type", "status", "account", "memo_date_after"):
        assert f'name="{name}"' in primary, name
    for name in (
        "amount_min",
        "amount_max",
        "reason_code",
        "transferred_to_accounting",
        "source",
        "tax_status",
    ):
        assert f'name="{name}"' in more and f'name="{name}"' not in primary, name
    form = response.context["filter_form"]
    assert form.fields["source"].label == "Created from"
    assert form.fields["reason_code"].label == "Reason Code"
    assert form.fields["transferred_to_accounting"].label == "Transferred to Accounting"
    # Amounts are typed as numbers, dates as dates.
    assert re.search(r'<input type="number"[^>]*name="amount_min"', content)
    assert re.search(r'<input type="date"[^>]*name="memo_date_after"', content)
    # Changing a filter updates the table in place and the address bar.
    assert 'hx-target="#results"' in content and 'hx-push-url="true"' in content


def test_applied_filters_are_chips(client, memos):
    service = code(ReasonCodeType.CREDIT_MEMO, "Service Unavailable")
    response = client.get(
        LIST,
        {"reason_code": service.pk, "amount_min": "10", "amount_max": "2000", "sort": "amount"},
    )
    chips = {chip["label"]: chip for chip in response.context["chips"]}
    assert chips["Reason Code"]["value"] == "Credit memo: Service Unavailable"
    assert chips["Amount"]["value"] == "10 – 2000"
    assert "amount_" not in chips["Amount"]["url"] and "sort=amount" in chips["Amount"]["url"]
    assert numbers(response) == [memos["billrun"].number]


@pytest.mark.parametrize(
    ("params", "text", "spoken"),
    [
        ({"amount_min": "100"}, "Amount >= 100", "Amount at least 100"),
        ({"amount_max": "500"}, "Amount <= 500", "Amount at most 500"),
        ({"amount_min": "10", "amount_max": "20"}, "Amount 10 – 20", "Amount from 10 to 20"),
        (
            {"memo_date_after": "2026-10-01"},
            "Memo Date >= 2026-10-01",
            "Memo Date at least 2026-10-01",
        ),
    ],
)
def test_a_range_chip_says_its_comparison(client, memos, params, text, spoken):
    response = client.get(LIST, params)
    (chip,) = response.context["chips"]
    assert (chip["text"], chip["spoken"]) == (text, spoken)
    assert f"Remove filter {spoken}" in response.content.decode()


@pytest.mark.parametrize(
    "params",
    [
        {"amount_min": "abc"},
        {"amount_max": "1.2345"},
        {"amount_min": "0.0001"},
        {"amount_min": "NaN"},
        {"amount_max": "Infinity"},
        {"amount_min": "1e30"},
        {"amount_min": "100", "amount_max": "10"},
        {"memo_date_after": "2026-02-30"},
        {"memo_date_before": "soon"},
        {"memo_type": "refund"},
        {"status": "reversed"},
        {"source": "bogus"},
        {"transferred_to_accounting": "maybe"},
        {"tax_status": "bogus"},
        {"reason_code": "abc"},
        {"reason_code": "999999"},
        {"reason_code": str(10**30)},
        {"reason_code": "refund"},  # replaced by a refund reason code's id below
        {"status": "posted", "amount_min": "1,5"},
    ],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_an_invalid_filter_shows_an_error_and_no_rows(client, memos, params, htmx):
    if params.get("reason_code") == "refund":
        params = {"reason_code": reason_code(ReasonCodeType.REFUND).pk}
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get(LIST, params, headers=headers)
    assert response.status_code == 200
    assert response.context["filterset"].errors
    assert rows(response) == []
    content = response.content.decode()
    assert "No results until the filters are fixed" in content
    assert 'data-testid="filter-errors"' in content
    assert "No memos shown until the filters marked above are fixed" in content
    for memo in memos.values():
        assert f"/memos/{memo.number}/" not in content
    # No export of "everything" is offered for filters that cannot be applied.
    assert 'data-testid="export-csv"' not in content
    if not htmx:
        assert "is-invalid" in content


def test_an_amount_with_too_many_decimals_says_so(client, memos):
    response = client.get(LIST, {"amount_max": "1.2345"})
    errors = " ".join(response.context["filterset"].errors["amount"])
    assert "decimal places" in errors
    reversed_range = client.get(LIST, {"amount_min": "100", "amount_max": "10"})
    assert "lower amount is above the upper one" in reversed_range.content.decode()


# --- sorting and paging ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["number", "memo_date", "amount"])
@pytest.mark.parametrize("descending", [False, True])
def test_sortable_columns_page_by_keyset(client, settings, field, descending):
    settings.PAGE_SIZE = 3
    made = [
        MemoFactory(memo_date=D1 + dt.timedelta(days=n * 3 % 4), amount_excl_tax=Decimal(n * 5 % 3))
        for n in range(8)
    ]
    sort = ("-" if descending else "") + field
    expected = [m.number for m in sorted(made, key=lambda m: (getattr(m, field), m.pk))]
    if descending:
        expected.reverse()
    seen, after = [], None
    while True:
        params = {"sort": sort} | ({"after": after} if after else {})
        response = client.get(LIST, params)
        seen += numbers(response)
        after = response.context["page"].next_cursor
        if not after:
            break
    assert seen == expected
    header = response.context["sort_headers"][field]
    assert header["aria_sort"] == ("descending" if descending else "ascending")


# --- the columns ----------------------------------------------------------------------------------


def row_html(content: str, number: str) -> str:
    match = re.search(rf"<tr>\s*<td[^>]*><a href=\"/memos/{number}/\">.*?</tr>", content, re.S)
    assert match, number
    return match.group(0)


def test_the_columns(client, memos):
    content = client.get(LIST).content.decode()
    header = content.split("<thead>", 1)[1].split("</thead>", 1)[0]
    labels = re.findall(r"<th[^>]*>\s*(?:<a[^>]*>)?([^<▲▼]+)", header)
    assert [label.strip() for label in labels] == [
        "Number",
        "Memo Type",
        "Customer Account",
        "Related Invoice",
        "Source",
        "Memo Date",
        "Status",
        "Reason Code",
        "Currency",
        "Amount",
        "Open amount",
        "Transferred to Accounting",
    ]
    billrun = memos["billrun"]
    row = row_html(content, billrun.number)
    assert f'href="/accounts/{billrun.account.number}/"' in row
    assert f'<a href="/bill-runs/{billrun.bill_run.number}/">{billrun.bill_run.number}</a>' in row
    assert "/invoices/" not in row
    assert "Posted" in row and "Reversed" in row
    assert "Service Unavailable" in row
    # Amount, then the credit memo's unapplied amount (1234.50 - 200 - 34).
    assert re.search(r">1,234\.50</td>\s*<td class=\"num\">1,000\.50</td>", row)
    assert "<td>Yes</td>" in row

    debit = memos["debit"]
    row = row_html(content, debit.number)
    assert f'<a href="/invoices/{debit.invoice.number}/">{debit.invoice.number}</a>' in row
    assert "/bill-runs/" not in row and "Reversed" not in row
    # JPY shows no decimals; a debit memo's open amount is its balance.
    assert re.search(r">1,000</td>\s*<td class=\"num\">600</td>", row)
    assert "Debit memo" in row and "<td>JPY</td>" in row

    kwd = row_html(content, memos["kwd"].number)
    assert re.search(r">1\.250</td>\s*<td class=\"num\">1\.250</td>", kwd)


# --- the empty list and the new-memo buttons ------------------------------------------------------


def test_an_empty_list_tells_an_operator_what_to_do(client, operator):
    client.force_login(operator)
    content = client.get(LIST).content.decode()
    empty = content.split('data-testid="empty-state">', 1)[1].split("</td>", 1)[0]
    assert "No memos yet." in empty
    assert '<a href="/memos/new/?type=credit">Create a credit memo</a>' in empty


def test_an_empty_list_for_a_viewer_has_no_create_link(client):
    content = client.get(LIST).content.decode()
    empty = content.split('data-testid="empty-state">', 1)[1].split("</td>", 1)[0]
    assert "No memos yet." in empty and "Billing operators create them" in empty
    assert "/memos/new/" not in content


def test_no_matches_says_so_and_offers_to_clear(client, operator, memos):
    response = client.get(LIST, {"status": "draft", "source": "bill_run"})
    content = response.content.decode()
    assert "No memos match these filters." in content
    assert '<a href="/memos/">Clear the filters</a>' in content
    client.force_login(operator)
    content = client.get(LIST, {"status": "draft", "source": "bill_run"}).content.decode()
    assert "create a credit memo" in content


@pytest.mark.parametrize(
    ("role", "shown"),
    [("operator", True), ("billing_admin", True), ("viewer", False), ("reviewer", False)],
)
def test_new_memo_buttons_only_for_those_who_may_create(client, request, role, shown):
    user = request.getfixturevalue(role)
    client.force_login(user)
    assert user.has_perm(p.CREATE_MEMO_FROM_CHARGES) == shown
    content = client.get(LIST).content.decode()
    header = content.split('id="filter-form"', 1)[0]
    assert ('href="/memos/new/?type=credit">New credit memo</a>' in header) == shown
    assert ('href="/memos/new/?type=debit">New debit memo</a>' in header) == shown


# --- CSV export -----------------------------------------------------------------------------------

HEADER = [
    "Number",
    "Memo Type",
    "Customer Account",
    "Account Name",
    "Related Invoice",
    "Source",
    "Memo Date",
    "Status",
    "Reversed",
    "Reason Code",
    "Currency",
    "Amount",
    "Tax",
    "Unapplied Amount",
    "Refund Amount",
    "Balance",
    "Transferred to Accounting",
    "Created At",
]


def test_export_streams_a_csv_file(client, memos):
    response = client.get(EXPORT)
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    filename = f"memos-{timezone.localdate():%Y%m%d}.csv"
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert re.fullmatch(r"memos-\d{8}\.csv", filename)
    table = exported(response)
    assert table[0] == HEADER
    assert len(table) == 1 + len(memos)


def test_export_writes_every_column_with_plain_amounts(client, memos):
    table = exported(client.get(EXPORT))
    by_number = {row[0]: dict(zip(HEADER, row, strict=True)) for row in table[1:]}

    billrun = memos["billrun"]
    assert by_number[billrun.number] == {
        "Number": billrun.number,
        "Memo Type": "Credit memo",
        "Customer Account": billrun.account.number,
        "Account Name": "Acme Corporation",
        "Related Invoice": "",
        "Source": billrun.bill_run.number,
        "Memo Date": "2026-11-01",
        "Status": "Posted",
        "Reversed": "Yes",
        "Reason Code": "Service Unavailable",
        "Currency": "USD",
        "Amount": "1234.50",
        "Tax": "34.50",
        "Unapplied Amount": "1000.50",
        "Refund Amount": "34.00",
        "Balance": "",
        "Transferred to Accounting": "Yes",
        "Created At": timezone.localtime(billrun.created_at).isoformat(timespec="seconds"),
    }
    debit = by_number[memos["debit"].number]
    assert debit["Related Invoice"] == memos["debit"].invoice.number
    assert (debit["Amount"], debit["Tax"], debit["Balance"]) == ("1000", "0", "600")
    # What does not apply to a debit memo is left empty, not zero.
    assert debit["Unapplied Amount"] == debit["Refund Amount"] == debit["Reversed"] == ""
    kwd = by_number[memos["kwd"].number]
    assert (kwd["Amount"], kwd["Tax"], kwd["Unapplied Amount"]) == ("1.250", "0.250", "1.250")
    assert (kwd["Status"], kwd["Reversed"], kwd["Balance"]) == ("Canceled", "No", "")
    assert not any("," in row[HEADER.index("Amount")] for row in table[1:])


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sort": "amount"},
        {"sort": "-amount", "memo_type": "credit"},
        {"sort": "number", "account": "acme"},
        {"sort": "-memo_date", "amount_min": "2", "status": "posted"},
        {"sort": "memo_date", "memo_date_after": "2026-10-01"},
        {"source": "charges", "tax_status": "error"},
        {"sort": "bogus"},
    ],
)
def test_export_has_exactly_the_rows_the_list_shows_in_its_order(client, memos, params):
    listed = numbers(client.get(LIST, params))
    table = exported(client.get(EXPORT, params))
    assert [row[0] for row in table[1:]] == listed


def test_export_ignores_the_page_and_writes_every_row(client, settings, memos):
    settings.PAGE_SIZE = 2
    first = client.get(LIST, {"sort": "amount"})
    cursor = first.context["page"].next_cursor
    assert cursor
    second = client.get(LIST, {"sort": "amount", "after": cursor})
    export_url = second.context["export_url"]
    assert "after=" not in export_url and "sort=amount" in export_url
    table = exported(client.get(export_url))
    # By currency, then amount: amounts of different currencies never interleave.
    expected = sorted(memos.values(), key=lambda m: (m.currency_id, m.amount, m.pk))
    assert [row[0] for row in table[1:]] == [m.number for m in expected]
    # Even a cursor typed into the export's URL changes nothing: it is not a filter.
    again = exported(client.get(EXPORT, {"sort": "amount", "after": "not-a-cursor"}))
    assert again == table


def test_the_export_link_carries_the_filters_and_sort(client, memos):
    response = client.get(LIST, {"status": "posted", "sort": "-amount"})
    content = response.content.decode()
    link = re.search(r'href="([^"]+)" data-testid="export-csv"', content).group(1)
    link = link.replace("&amp;", "&")
    assert link.startswith("/memos/export.csv?")
    assert "status=posted" in link and "sort=-amount" in link
    partial = client.get(
        LIST, {"memo_type": "debit", "sort": "number"}, headers={"HX-Request": "true"}
    )
    assert 'data-testid="export-csv"' in partial.content.decode()
    assert "memo_type=debit" in partial.context["export_url"]
    assert client.get(LIST).context["export_url"] == EXPORT


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"amount_min": "abc"}, "Amount: Enter a number."),
        ({"amount_max": "1.2345"}, "decimal places"),
        ({"memo_date_after": "2026-02-30"}, "Memo Date: Enter a valid date."),
        ({"status": "bogus"}, "Status: Select a valid choice."),
        ({"reason_code": "999999"}, "Reason Code: Select a valid choice."),
    ],
)
def test_export_with_an_invalid_filter_is_a_400_not_everything(client, memos, params, message):
    response = client.get(EXPORT, params)
    assert response.status_code == 400
    assert not response.streaming
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "Nothing was exported" in text
    assert message in text
    for memo in memos.values():
        assert memo.number not in text


def count_export(client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        table = exported(client.get(url))
    return len(captured), len(table) - 1


@pytest.mark.parametrize("url", [EXPORT, EXPORT + "?sort=amount&status=posted&amount_min=1"])
def test_export_queries_do_not_grow_with_rows(client, url):
    memo_with_everything(0)
    client.get(url)
    one = count_export(client, url)
    assert one[1] == 1
    for index in range(1, 30):
        memo_with_everything(index)
    assert count_export(client, url) == (one[0], 30)


def test_export_reads_rows_in_chunks_and_writes_in_pieces(client, monkeypatch):
    chunk_sizes = []
    original = QuerySet.iterator

    def spy(self, chunk_size=None):
        chunk_sizes.append(chunk_size)
        return original(self, chunk_size=chunk_size)

    monkeypatch.setattr(QuerySet, "iterator", spy)
    monkeypatch.setattr(memo_views, "EXPORT_ROWS_PER_WRITE", 4)
    made = [MemoFactory(memo_date=D1 + dt.timedelta(days=n)) for n in range(10)]
    response = client.get(EXPORT, {"sort": "memo_date"})
    pieces = list(response.streaming_content)
    assert chunk_sizes == [2000]
    # The header and 4 rows, 4 rows, then the last 2: the body is streamed as it is written.
    assert len(pieces) == 3
    table = list(csv.reader(io.StringIO(b"".join(pieces).decode())))
    assert [row[0] for row in table[1:]] == [m.number for m in made]


def test_export_keeps_typed_text_from_running_as_a_formula(client):
    MemoFactory(account=AccountFactory(name="=HYPERLINK(1)"))
    table = exported(client.get(EXPORT))
    assert table[1][HEADER.index("Account Name")] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    "name",
    [" =HYPERLINK(1)", "\n=1+1", "\r\n@SUM(A1)", "  \t+1", " -2+3", "\t=1", "\r=1"],
)
def test_export_neutralises_formulas_behind_spaces_and_line_breaks(client, name):
    """Spreadsheets skip leading blanks before they decide a cell is a formula."""
    reason = ReasonCodeFactory(name="x" + name)  # a formula inside a name stays plain text
    MemoFactory(account=AccountFactory(name=name), reason_code=reason)
    table = exported(client.get(EXPORT))
    assert table[1][HEADER.index("Account Name")] == "'" + name
    assert table[1][HEADER.index("Reason Code")] == "x" + name


@pytest.mark.parametrize("name", ["Acme", " Acme", "A=B", "", "1-2"])
def test_export_leaves_plain_text_alone(client, name):
    MemoFactory(account=AccountFactory(name=name))
    table = exported(client.get(EXPORT))
    assert table[1][HEADER.index("Account Name")] == name


# --- permissions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "reviewer", "operator", "billing_admin"])
def test_every_role_reads_and_exports(client, request, role):
    MemoFactory()
    client.force_login(request.getfixturevalue(role))
    assert len(rows(client.get(LIST))) == 1
    assert len(rows(client.get(LIST, headers={"HX-Request": "true"}))) == 1
    assert len(exported(client.get(EXPORT))) == 2


@pytest.mark.parametrize("who", ["no_role", "invoices_only"])
def test_without_view_memo_both_are_403(client, no_role_user, who):
    MemoFactory()
    user = no_role_user
    if who == "invoices_only":
        user = UserFactory(username="invoices-only")
        user.user_permissions.add(
            Permission.objects.get(codename="view_invoice", content_type__app_label="billing")
        )
    assert not user.has_perm(p.VIEW_MEMOS)
    client.force_login(user)
    for url in (LIST, EXPORT, EXPORT + "?status=posted"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert not response.streaming
        assert client.get(url, headers={"HX-Request": "true"}).status_code == 403, url


def test_anonymous_export_goes_to_the_login_page(client):
    client.logout()
    response = client.get(EXPORT + "?status=posted")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
