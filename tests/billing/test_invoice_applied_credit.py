"""The invoice page shows the credit applied to the invoice (DOMAIN.md 3; issue "Invoice, debit
memo and account pages show applied credit and the current balance"): every application and
unapplication with its credit memo, amount, effective date and who made it, to users who may see
memos, in a fixed number of queries however many there are.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.factories import UserFactory
from memos.services.settlement import unapply_credit_memo
from tests.memos.creation_helpers import D, account
from tests.memos.test_settlement import apply, credit_on, invoice_on, to_invoice

pytestmark = pytest.mark.django_db


def applied_credit(html: str) -> str:
    """The "Applied credit" section of the invoice page ("" when it is not there)."""
    match = re.search(
        r'<section[^>]*aria-labelledby="applied-credit-heading">(.*?)</section>', html, re.S
    )
    return match.group(1) if match else ""


def rows(section: str) -> list[str]:
    """Each body row's cells as plain text, joined by " | "."""
    body = section.split("<tbody>", 1)[1]
    return [
        " | ".join(
            re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td.*?</td>", row, re.S)
        )
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


@pytest.fixture
def acct():
    return account("USD")


def test_the_invoice_page_lists_applications_and_unapplications(client, operator, viewer, acct):
    invoice = invoice_on(acct, "80", "20")
    first = credit_on(acct, "50")
    second = credit_on(acct, "30")
    [application] = apply(first, to_invoice(invoice, "40"), on=dt.date(2025, 3, 25), actor=operator)
    apply(second, to_invoice(invoice, "12.5"), on=dt.date(2025, 3, 26), actor=None)
    unapply_credit_memo(
        application=application, amount=D("15"), effective_date=dt.date(2025, 4, 2), actor=operator
    )
    client.force_login(viewer)
    html = client.get(invoice.get_absolute_url()).content.decode()
    section = applied_credit(html)
    assert 'id="applied-credit-heading">Applied credit</h2>' in section
    assert rows(section) == [
        f"{first.number} | Applied | 40.00 | 2025-03-25 | {operator.get_full_name()}",
        f"{second.number} | Applied | 12.50 | 2025-03-26 | system",
        f"{first.number} | Unapplied | −15.00 | 2025-04-02 | {operator.get_full_name()}",
    ]
    assert f'<a href="{first.get_absolute_url()}">{first.number}</a>' in section
    assert f'<a href="{second.get_absolute_url()}">{second.number}</a>' in section
    # The balance beside it is the current one: 100 - 40 - 12.50 + 15.
    assert re.search(r'data-testid="invoice-balance">USD\s+62\.50', html)


def test_an_invoice_without_credit_says_so(client, viewer, acct):
    invoice = invoice_on(acct, "10")
    client.force_login(viewer)
    section = applied_credit(client.get(invoice.get_absolute_url()).content.decode())
    assert "No credit applied." in section


def test_credit_applied_to_another_invoice_or_a_debit_memo_is_not_listed(client, viewer, acct):
    invoice = invoice_on(acct, "10")
    other = invoice_on(acct, "10")
    memo = credit_on(acct, "10")
    apply(memo, to_invoice(other, "4"))
    client.force_login(viewer)
    section = applied_credit(client.get(invoice.get_absolute_url()).content.decode())
    assert memo.number not in section and "No credit applied." in section


@pytest.mark.parametrize("role", ["operator", "reviewer", "viewer", "billing_admin"])
def test_every_role_sees_the_applied_credit(client, request, role, acct):
    invoice = invoice_on(acct, "10")
    memo = credit_on(acct, "10")
    apply(memo, to_invoice(invoice, "4"))
    client.force_login(request.getfixturevalue(role))
    assert memo.number in applied_credit(client.get(invoice.get_absolute_url()).content.decode())


def test_users_who_may_not_see_memos_do_not_see_the_applied_credit(client, acct):
    invoice = invoice_on(acct, "10")
    memo = credit_on(acct, "10")
    apply(memo, to_invoice(invoice, "4"))
    user = UserFactory(username="invoices-only")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="billing", codename="view_invoice")
    )
    client.force_login(user)
    response = client.get(invoice.get_absolute_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "Applied credit" not in html and memo.number not in html
    assert 'data-testid="invoice-balance">USD 6.00' in html


def invoice_with_applications(acct, count: int):
    """An invoice with `count` application rows, from as many credit memos and users."""
    invoice = invoice_on(acct, "1000")
    for index in range(count):
        memo = credit_on(acct, "5")
        user = UserFactory(username=f"applier{count}-{index}")
        apply(memo, to_invoice(invoice, "1"), actor=user)
    return invoice


def page_queries(client, invoice) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(invoice.get_absolute_url())
    assert response.status_code == 200
    return len(queries)


def test_the_query_count_does_not_grow_with_the_applications(client, viewer, acct):
    one = invoice_with_applications(acct, 1)
    ten = invoice_with_applications(acct, 10)
    client.force_login(viewer)
    page_queries(client, one)  # warm the caches (content types, permissions of the session)
    assert len(rows(applied_credit(client.get(ten.get_absolute_url()).content.decode()))) == 10
    assert page_queries(client, one) == page_queries(client, ten)
