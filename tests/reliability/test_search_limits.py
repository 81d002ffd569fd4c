"""Search text longer than any name or number is refused beside its filter (or finds nothing),
never sent to the database: SQLite refuses a LIKE pattern over 50,000 bytes with an error, which
was a 500 on every list's text filters and the account pickers (found by test_fuzz.py)."""

from __future__ import annotations

import pytest

from billing.factories import AccountFactory, BillRunFactory, InvoiceFactory
from billing.selectors import SEARCH_MAX_LENGTH, search_accounts
from memos.factories import MemoFactory

LONG = "x" * (1 << 20)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/accounts/", "q"),
        ("/invoices/", "number"),
        ("/invoices/", "account"),
        ("/bill-runs/", "number"),
        ("/memos/", "number"),
        ("/memos/", "account"),
        ("/memos/export.csv", "account"),
    ],
)
def test_a_huge_filter_text_is_an_error_beside_the_filter(operator_client, url, field):
    InvoiceFactory(), BillRunFactory(), MemoFactory()
    for htmx in (False, True):
        response = operator_client.get(
            url, {field: LONG}, headers={"HX-Request": "true"} if htmx else {}
        )
        assert response.status_code in (200, 400), response.status_code
        assert f"at most {SEARCH_MAX_LENGTH} characters" in response.content.decode()


@pytest.mark.django_db
def test_the_account_pickers_find_nothing_for_a_huge_text(operator_client):
    account = AccountFactory()
    assert search_accounts(account.number) == [account]
    assert search_accounts(LONG) == []
    response = operator_client.get(
        "/memos/new/",
        {"account": LONG},
        headers={"HX-Request": "true", "HX-Trigger-Name": "account"},
    )
    assert response.status_code == 200
