"""`manage.py seed_demo`: realistic, consistent and deterministic demo data.

Seeding takes a few seconds, so the checks of the seeded data share one run (a Django TestCase's
setUpTestData, rolled back after the class); the runs on an empty database are separate tests.
"""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.test import RequestFactory, TestCase

from billing import roles
from billing.models import (
    Account,
    AccountingPeriod,
    AccountStatus,
    BillingPeriod,
    Charge,
    ChargeModel,
    ChargePrice,
    ChargeType,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    PeriodStatus,
    Subscription,
    SubscriptionCharge,
    UsageRecord,
)
from memos.models import Memo, MemoItem, MemoSource, MemoStatus, MemoType

README_PASSWORD = "memodesk-demo"
COUNTED_MODELS = (
    Account,
    Charge,
    ChargePrice,
    Subscription,
    SubscriptionCharge,
    UsageRecord,
    Invoice,
    InvoiceItem,
    Memo,
    MemoItem,
    AccountingPeriod,
    get_user_model(),
)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED_MODELS}


def digest() -> str:
    """A fingerprint of the seeded data that does not depend on primary keys or timestamps."""
    rows = [
        *Account.objects.order_by("number").values_list(
            "number", "name", "currency", "batch", "bill_cycle_day", "status"
        ),
        *SubscriptionCharge.objects.order_by("subscription__number", "charge__name").values_list(
            "subscription__number", "charge__name", "price", "quantity", "charged_through_date"
        ),
        *Invoice.objects.order_by("number").values_list(
            "number", "account__number", "invoice_date", "status", "amount", "tax_amount"
        ),
        *Memo.objects.order_by("number").values_list("number", "account__number", "amount"),
        *UsageRecord.objects.order_by(
            "subscription_charge__subscription__number", "usage_date", "quantity"
        ).values_list("usage_date", "quantity", "billed_period__invoice_items__invoice__number"),
    ]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


class SeededDataTests(TestCase):
    """Checks of one seeded database."""

    @classmethod
    def setUpTestData(cls):
        cls.output = seed("--demo-users")

    def test_accounts_cover_currencies_batches_and_bill_cycle_days(self):
        accounts = Account.objects.all()
        assert accounts.count() >= 50
        currencies = set(accounts.values_list("currency", flat=True))
        assert currencies == {"USD", "EUR", "JPY"}
        per_currency = dict(accounts.values_list("currency").annotate(n=Count("id")))
        assert per_currency["USD"] > per_currency["EUR"] + per_currency["JPY"]
        assert len(set(accounts.values_list("batch", flat=True))) >= 4
        assert len(set(accounts.values_list("bill_cycle_day", flat=True))) >= 4
        assert accounts.filter(status=AccountStatus.INACTIVE).count() >= 2
        assert "Accounts: " in self.output and "Invoices: " in self.output

    def test_catalog_has_every_kind_of_charge_priced_in_each_currency(self):
        charges = Charge.objects.all()
        for charge_type in ChargeType.values:
            assert charges.filter(charge_type=charge_type).exists(), charge_type
        for period in BillingPeriod.values:
            assert charges.filter(charge_type=ChargeType.RECURRING, billing_period=period).exists()
        assert charges.filter(charge_model=ChargeModel.DISCOUNT).exists()
        assert charges.filter(charge_type=ChargeType.RECURRING, prices__list_price__lt=0).exists()
        assert charges.filter(taxable=False).exists()
        assert charges.filter(taxable=True).values("tax_code").distinct().count() >= 2
        for charge in charges:
            prices = {p.currency_id: p.list_price for p in charge.prices.all()}
            assert set(prices) == {"USD", "EUR", "JPY"}, charge
            assert prices["JPY"] == prices["JPY"].to_integral_value(), charge

    def test_subscriptions_usage_and_a_net_negative_account(self):
        subscribed = Account.objects.filter(subscriptions__isnull=False).distinct().count()
        assert subscribed > Account.objects.count() * 0.8
        sub_charges = SubscriptionCharge.objects.select_related("subscription__account")
        assert sub_charges.filter(charged_through_date__isnull=False).exists()
        assert sub_charges.filter(charged_through_date__isnull=True).exists()
        for sc in sub_charges.filter(subscription__account__currency="JPY"):
            assert sc.price == sc.price.to_integral_value()
        billed = UsageRecord.objects.filter(billed_period__isnull=False).count()
        unbilled = UsageRecord.objects.filter(billed_period__isnull=True).count()
        assert 0 < billed < unbilled
        # Some account's charges not yet billed total less than zero: the next bill run credits it.
        unbilled_totals = (
            sub_charges.filter(charged_through_date__isnull=True)
            .exclude(charge__charge_type=ChargeType.USAGE)
            .values("subscription__account")
            .annotate(total=Sum(F("price") * F("quantity")))
        )
        assert any(row["total"] < 0 for row in unbilled_totals)

    def test_invoices_are_posted_and_draft_multi_item_taxed_and_add_up(self):
        invoices = Invoice.objects.annotate(item_count=Count("items"))
        for status in (InvoiceStatus.POSTED, InvoiceStatus.DRAFT):
            assert invoices.filter(status=status, item_count__gte=2, tax_amount__gt=0).exists()
        assert len(set(invoices.values_list("invoice_date__month", flat=True))) >= 3
        for invoice in invoices.prefetch_related("items"):
            items = list(invoice.items.all())
            assert invoice.currency_id == invoice.account.currency_id
            assert invoice.amount == sum(item.amount for item in items)
            assert invoice.amount_excl_tax == sum(item.amount_excl_tax for item in items)
            assert invoice.tax_amount == sum(item.tax_amount for item in items)
            expected_balance = invoice.amount if invoice.status == InvoiceStatus.POSTED else 0
            assert invoice.balance == expected_balance
            if invoice.currency_id == "JPY":
                assert invoice.amount == invoice.amount.to_integral_value()

    def test_memos_add_up_and_one_credits_part_of_a_posted_invoice(self):
        memos = Memo.objects.prefetch_related("items")
        assert memos.filter(status=MemoStatus.DRAFT).exists()
        assert memos.filter(status=MemoStatus.POSTED).exists()
        assert memos.filter(memo_type=MemoType.DEBIT).exists()
        for memo in memos:
            items = list(memo.items.all())
            assert items
            assert memo.amount == memo.amount_excl_tax + memo.tax_amount > 0
            assert memo.amount == sum(item.amount for item in items)
            assert memo.tax_amount == sum(item.tax_amount for item in items)
            assert memo.currency_id == memo.account.currency_id
        from_invoice = memos.filter(
            source=MemoSource.INVOICE, memo_type=MemoType.CREDIT, status=MemoStatus.POSTED
        ).first()
        assert from_invoice is not None
        invoice = from_invoice.invoice
        assert invoice.status == InvoiceStatus.POSTED
        assert invoice.account_id == from_invoice.account_id
        assert from_invoice.amount < invoice.amount / 2
        assert from_invoice.memo_date >= invoice.invoice_date
        for item in from_invoice.items.all():
            assert item.invoice_item.invoice_id == invoice.pk
            assert item.amount <= item.invoice_item.amount

    def test_a_closed_period_holds_no_draft_and_later_periods_are_open(self):
        closed = AccountingPeriod.objects.get(status=PeriodStatus.CLOSED)
        later = AccountingPeriod.objects.filter(start_date__gt=closed.end_date)
        assert later.count() >= 3
        assert not later.exclude(status=PeriodStatus.OPEN).exists()
        in_closed = Q(invoice_date__gte=closed.start_date, invoice_date__lte=closed.end_date)
        assert Invoice.objects.filter(in_closed, status=InvoiceStatus.POSTED).exists()
        assert not Invoice.objects.filter(in_closed, status=InvoiceStatus.DRAFT).exists()
        assert not Memo.objects.filter(
            memo_date__gte=closed.start_date, memo_date__lte=closed.end_date
        ).exists()

    def test_one_demo_user_per_role_signs_in_with_the_readme_password(self):
        for username, group in [
            ("admin", roles.BILLING_ADMIN),
            ("operator", roles.BILLING_OPERATOR),
            ("reviewer", roles.ACCOUNTING_REVIEWER),
            ("viewer", roles.BILLING_VIEWER),
            ("approver", roles.BILLING_APPROVER),
        ]:
            user = authenticate(
                RequestFactory().post("/login/"), username=username, password=README_PASSWORD
            )
            assert user is not None, username
            assert list(user.groups.values_list("name", flat=True)) == [group]
            assert user.first_name and user.last_name
            assert user.is_superuser == user.is_staff == (username == "admin")

    def test_the_output_says_the_demo_users_were_created(self):
        assert "Created the demo users admin, operator, reviewer, viewer, approver" in self.output
        assert "'memodesk-demo'" in self.output

    def test_if_empty_on_a_seeded_database_creates_nothing(self):
        before = counts()
        out = seed("--if-empty")
        assert "exist already" in out
        assert counts() == before

    def test_a_second_run_without_if_empty_is_refused(self):
        before = counts()
        with pytest.raises(CommandError, match="already"):
            seed()
        assert counts() == before


@pytest.mark.django_db
def test_two_runs_on_empty_databases_make_the_same_data():
    # The first run is rolled back (a savepoint), so the second starts from empty again; it uses
    # --if-empty, which seeds an empty database.
    with transaction.atomic():
        seed()
        first = digest()
        first_accounts = list(Account.objects.values_list("number", "name")[:5])
        transaction.set_rollback(True)
    assert not Account.objects.exists()
    seed("--if-empty")
    assert list(Account.objects.values_list("number", "name")[:5]) == first_accounts
    assert digest() == first


@pytest.mark.django_db
def test_without_demo_users_no_user_can_sign_in():
    """A production database never gets the published password: only `--demo-users` (which
    `make run` passes, and only on an empty database) creates users that can sign in."""
    out = seed()
    assert "demo users" not in out
    users = get_user_model().objects.all()
    assert [u.username for u in users] == ["demo-data"]
    assert not any(u.has_usable_password() or u.is_active or u.is_staff for u in users)
    assert Memo.objects.exists()
    assert set(Memo.objects.values_list("created_by__username", flat=True)) == {"demo-data"}
    request = RequestFactory().post("/login/")
    assert authenticate(request, username="demo-data", password=README_PASSWORD) is None
    assert authenticate(request, username="admin", password=README_PASSWORD) is None
