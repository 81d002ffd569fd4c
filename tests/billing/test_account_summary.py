"""The account page's overview, like Zuora's: balance and its parts, the last invoice, the
subscriptions with their charges and charged-through dates, then invoices and memos."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

import pytest

from billing.factories import (
    AccountFactory,
    ChargeFactory,
    InvoiceFactory,
    SubscriptionChargeFactory,
    SubscriptionFactory,
)
from billing.models import InvoiceStatus
from memos.factories import MemoFactory
from memos.models import MemoStatus, MemoType

pytestmark = pytest.mark.django_db
D = Decimal


def text(client, account) -> str:
    return " ".join(html.unescape(client.get(account.get_absolute_url()).content.decode()).split())


def field(page: str, testid: str) -> str:
    return page.split(f'data-testid="{testid}">')[1].split("</dd>")[0].strip()


@pytest.fixture
def account(db):
    account = AccountFactory(name="Globex")
    InvoiceFactory(account=account, invoice_date=dt.date(2026, 9, 1), amount_excl_tax=D("100"))
    last = InvoiceFactory(
        account=account, invoice_date=dt.date(2026, 10, 1), amount_excl_tax=D("1000")
    )
    InvoiceFactory(account=account, invoice_date=dt.date(2026, 11, 1), status=InvoiceStatus.DRAFT)
    MemoFactory(
        account=account, memo_type=MemoType.DEBIT, status=MemoStatus.POSTED,
        amount_excl_tax=D("20"), tax_amount=D("0"),
    )  # fmt: skip
    MemoFactory(
        account=account, status=MemoStatus.POSTED, amount_excl_tax=D("30"), tax_amount=D("0"),
        unapplied_amount=D("30"),
    )  # fmt: skip
    plan = SubscriptionFactory(account=account, start_date=dt.date(2026, 1, 1))
    SubscriptionChargeFactory(
        subscription=plan, charge=ChargeFactory(name="Platform"), price=D("1500"),
        quantity=D("10"), charged_through_date=dt.date(2026, 12, 1),
    )  # fmt: skip
    SubscriptionChargeFactory(
        subscription=plan, charge=ChargeFactory(name="API calls"), price=D("0.0125"),
    )  # fmt: skip
    account.last = last
    account.plan = plan
    return account


def test_the_summary_shows_the_balance_and_its_parts(operator_client, account):
    page = text(operator_client, account)
    # Posted invoices 110 + 1,010; posted debit memo 20; unapplied credit 30.
    assert field(page, "account-invoice-balance") == "USD 1,120.00"
    assert field(page, "account-debit-balance") == "USD 20.00"
    assert field(page, "account-unapplied-credit") == "USD 30.00"
    assert field(page, "account-balance") == "USD 1,110.00"
    last = field(page, "account-last-invoice")
    assert f">{account.last.number}</a> · 2026-10-01 · USD 1,010.00" in last


def test_subscriptions_show_their_charges_and_charged_through_dates(operator_client, account):
    page = text(operator_client, account)
    table = page.split(f'data-testid="subscription-{account.plan.number}"')[1].split("</table>")[0]
    assert "Platform" in table and "1,500.00" in table and ">10<" in table
    assert "2026-12-01" in table
    assert "API calls" in table and "0.0125" in table and "Not billed yet" in table


def test_a_viewer_sees_it_all_and_an_account_without_invoices_says_so(client, viewer):
    account = AccountFactory()
    client.force_login(viewer)
    page = text(client, account)
    assert field(page, "account-last-invoice") == "None yet"
    assert "No subscriptions." in page
