"""The Django admin for the payments models: every model registered, its list and change pages
open for staff, nothing added or deleted there, money and state read-only, and a payment
method's gateway token never shown."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from billing.numbering import next_number
from memos.services.settlement import ApplicationTarget
from payments.models import PaymentRun, PaymentRunError, PaymentRunErrorKind
from payments.services.settlement import record_payment
from tests.payments.helpers import DAY, D, account, invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    acct = account()
    inv = invoice(acct, ["40.00"])
    payment = record_payment(
        account=acct, amount="40.00", payment_date=DAY, method="check", actor=None,
        targets=[ApplicationTarget(invoice=inv, amount=D("40.00"))],
    )  # fmt: skip
    run = PaymentRun.objects.create(number=next_number("payment_run"), target_date=DAY)
    PaymentRunError.objects.create(
        payment_run=run, account=acct, invoice=inv, kind=PaymentRunErrorKind.DECLINED,
        reason="Declined: Insufficient funds",
    )  # fmt: skip
    return payment


def test_every_payments_model_is_registered_and_opens(client, superuser, rows):
    client.force_login(superuser)
    for model in apps.get_app_config("payments").get_models():
        assert admin.site.is_registered(model), model
        meta = model._meta
        listing = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert listing.status_code == 200, model
        first = model.objects.order_by("pk").first()
        if first is not None:
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            page = client.get(url)
            assert page.status_code == 200, model
            assert "tok_visa" not in page.content.decode()
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(listing.wsgi_request)
        assert not model_admin.has_delete_permission(listing.wsgi_request)


def test_money_and_state_are_read_only(client, superuser, rows):
    client.force_login(superuser)
    url = reverse("admin:payments_payment_change", args=[rows.pk])
    page = client.get(url).content.decode()
    assert 'name="amount"' not in page and 'name="status"' not in page
    assert "40.00" in page
