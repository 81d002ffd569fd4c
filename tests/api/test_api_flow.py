"""A billing desk's whole flow through the API only, and the same flow through the UI (its pages
and, where the UI is the Django admin, the services the admin calls): the figures are the same.

Create an account and a subscription (a monthly charge and a usage charge), post usage, generate
billing documents for the account, create a credit memo from the invoice, post it, apply part of
it to the invoice and refund the rest."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services
from billing.factories import ChargeFactory, ChargePriceFactory
from billing.models import (
    Account,
    BillingPeriod,
    ChargeModel,
    ChargeType,
    Invoice,
)
from billing.selectors import account_balance
from memos.models import Memo, ReasonCode
from tests.api.conftest import token_client
from tests.billing.bill_run_helpers import tax_code

pytestmark = pytest.mark.django_db

START = dt.date(2026, 10, 1)
TARGET = dt.date(2026, 10, 31)
USAGE_DAY = dt.date(2026, 10, 12)


@pytest.fixture
def catalog():
    """A monthly platform fee of 100.00 and storage at 0.25 per GB, both taxed at 10%."""
    code = tax_code("10")
    platform = ChargeFactory(name="Platform", charge_type=ChargeType.RECURRING,
                             billing_period=BillingPeriod.MONTH, tax_code=code)  # fmt: skip
    storage = ChargeFactory(name="Storage", charge_type=ChargeType.USAGE,
                            charge_model=ChargeModel.PER_UNIT, tax_code=code)  # fmt: skip
    ChargePriceFactory(charge=platform, list_price=Decimal("100"))
    ChargePriceFactory(charge=storage, list_price=Decimal("0.25"))
    return platform, storage


def figures(account: Account, memo: Memo) -> dict:
    """What both flows must agree on."""
    invoice = Invoice.objects.get(account=account)
    memo.refresh_from_db()
    return {
        "invoice": (invoice.status, invoice.amount_excl_tax, invoice.tax_amount, invoice.amount,
                    invoice.balance),
        "invoice items": sorted(invoice.items.values_list("charge_name", "quantity", "amount")),
        "memo": (memo.status, memo.amount_excl_tax, memo.tax_amount, memo.amount,
                 memo.applied_amount, memo.refund_amount, memo.unapplied_amount),
        "refunds": list(memo.refunds.values_list("amount", "method")),
        "account balance": account_balance(account),
    }  # fmt: skip


def api_flow(user, catalog) -> dict:
    platform, storage = catalog
    api = token_client(user)

    def ok(response, status=200):
        assert response.status_code == status, response.content
        return response.json()

    new_account = {"name": "Flow Ltd", "currency": "USD", "bill_cycle_day": 1}
    account = ok(api.post("/api/v1/accounts/", new_account, format="json"), 201)
    subscription = ok(
        api.post(
            "/api/v1/subscriptions/",
            {
                "account": account["number"],
                "start_date": START.isoformat(),
                "charges": [{"charge": platform.pk}, {"charge": storage.pk}],
            },
            format="json",
        ),
        201,
    )
    usage_charge = next(c for c in subscription["charges"] if c["charge"] == storage.pk)
    rows = [{"subscription_charge": usage_charge["id"], "usage_date": USAGE_DAY.isoformat(),
             "quantity": "120"}] * 2  # fmt: skip
    ok(api.post("/api/v1/usage/bulk/", {"rows": rows}, format="json"), 201)
    documents = ok(
        api.post(
            f"/api/v1/accounts/{account['number']}/billing-documents/",
            {"target_date": TARGET.isoformat(), "invoice_date": TARGET.isoformat(),
             "auto_post": True},
            format="json",
        ),
        201,
    )  # fmt: skip
    [invoice] = documents["invoices"]
    platform_item = next(i for i in invoice["items"] if i["charge_name"] == "Platform")
    memo = ok(
        api.post(
            "/api/v1/memos/from-invoice/",
            {"memo_type": "credit", "invoice": invoice["number"], "memo_date": TARGET.isoformat(),
             "items": [{"invoice_item": platform_item["id"], "amount": "40.00"}]},
            format="json",
        ),
        201,
    )  # fmt: skip
    ok(api.post(f"/api/v1/memos/{memo['number']}/post/"))
    applied = ok(api.post(f"/api/v1/memos/{memo['number']}/apply/",
                          {"effective_date": TARGET.isoformat(),
                           "targets": [{"invoice": invoice["number"], "amount": "30.00"}]},
                          format="json"))  # fmt: skip
    rest = applied["unapplied_amount"]
    ok(api.post(f"/api/v1/memos/{memo['number']}/refund/",
                {"amount": rest, "method": "check", "refund_date": TARGET.isoformat()},
                format="json"))  # fmt: skip
    return figures(Account.objects.get(number=account["number"]),
                   Memo.objects.get(number=memo["number"]))  # fmt: skip


def ui_flow(client, user, catalog, capture) -> dict:
    platform, storage = catalog
    # Accounts, subscriptions and usage are kept in the Django admin, which calls these.
    account = services.create_account(name="Flow Ltd", currency="USD", bill_cycle_day=1)
    subscription = services.create_subscription(
        account=account,
        start_date=START,
        charges=[services.SubscribedCharge(charge=platform),
                 services.SubscribedCharge(charge=storage)],
    )  # fmt: skip
    usage_charge = subscription.charges.get(charge=storage)
    services.record_usage(rows=[services.UsageRow(usage_charge.pk, USAGE_DAY, Decimal("120"))] * 2)
    client.force_login(user)
    with capture(execute=True):
        response = client.post(
            reverse("billing:bill_run_new"),
            {"scope": "account", "account": account.number, "invoice_date": TARGET.isoformat(),
             "target_date": TARGET.isoformat(), "include_one_time": "on",
             "include_recurring": "on", "include_usage": "on", "auto_post": "on"},
        )  # fmt: skip
    assert response.status_code == 302, response.content
    invoice = Invoice.objects.get(account=account)
    platform_item = invoice.items.get(charge_name="Platform")
    reason = ReasonCode.objects.get(code_type="credit_memo", is_default=True)
    url = reverse("memos:memo_create_from_invoice", args=[invoice.number]) + "?type=credit"
    response = client.post(url, {
        "type": "credit", "memo_date": TARGET.isoformat(), "reason_code": reason.pk,
        "tax_auto_calculation": "on", "idempotency_key": "ui-flow",
        f"item-{platform_item.pk}-selected": "on", f"item-{platform_item.pk}-amount": "40.00",
    })  # fmt: skip
    assert response.status_code == 302, response.content
    memo = Memo.objects.get(invoice=invoice)
    assert client.post(reverse("memos:memo_post", args=[memo.number])).status_code == 302
    response = client.post(reverse("memos:memo_apply", args=[memo.number]), {
        "effective_date": TARGET.isoformat(), f"invoice-{invoice.pk}-amount": "30.00",
    })  # fmt: skip
    assert response.status_code == 302, response.content
    memo.refresh_from_db()
    refund_reason = ReasonCode.objects.get(code_type="refund", is_default=True)
    response = client.post(reverse("memos:memo_refund", args=[memo.number]), {
        "amount": str(memo.unapplied_amount), "method": "check",
        "refund_date": TARGET.isoformat(), "reason_code": refund_reason.pk,
    })  # fmt: skip
    assert response.status_code == 302, response.content
    return figures(account, memo)


def test_the_api_flow_gives_the_figures_of_the_ui_flow(
    billing_admin, client, catalog, django_capture_on_commit_callbacks
):
    through_api = api_flow(billing_admin, catalog)
    through_ui = ui_flow(client, billing_admin, catalog, django_capture_on_commit_callbacks)
    assert through_api == through_ui
    # And they are the figures of the rulebook: 100 + 240 GB x 0.25 = 160, 10% tax: 176.00;
    # credit 40 + 4 tax = 44.00, 30.00 applied, 14.00 refunded.
    assert through_api["invoice"] == ("posted", Decimal("160"), Decimal("16"), Decimal("176"),
                                      Decimal("146"))  # fmt: skip
    assert through_api["memo"][1:] == (Decimal("40"), Decimal("4"), Decimal("44"), Decimal("30"),
                                       Decimal("14"), Decimal("0"))  # fmt: skip
    assert through_api["account balance"] == Decimal("146")
