"""Every error the Django admin shows reads as a sentence: never a constraint's name, never a 500.

Model validation in the admin's forms shows a constraint's violation_error_message, so every
check (and conditional unique) constraint of a model the admin writes has one in words. What
the form cannot check (a write by someone else in between, a column not in the form) ends as an
IntegrityError at save, which the admin turns into the same sentence.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db import IntegrityError, models
from django.test import RequestFactory

from billing import factories as bf
from billing.models import Charge, Currency, Subscription, TaxRate
from tests.test_admin import APPS, admin_url, change_url, form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def written_by_the_admin(superuser) -> list[type[models.Model]]:
    request = RequestFactory().get("/admin/")
    request.user = superuser
    return [
        model
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in APPS
        and (model_admin.has_add_permission(request) or model_admin.has_change_permission(request))
    ]


def needs_words(constraint) -> bool:
    # A plain unique constraint on fields gets Django's "... with this X already exists."
    return isinstance(constraint, models.CheckConstraint) or (
        isinstance(constraint, models.UniqueConstraint)
        and (constraint.condition is not None or constraint.expressions)
    )


def test_every_constraint_the_admin_can_trip_has_a_message_in_words(superuser):
    missing = [
        f"{model._meta.label}.{constraint.name}"
        for model in written_by_the_admin(superuser)
        for constraint in model._meta.constraints
        if needs_words(constraint)
        and constraint.violation_error_message == constraint.default_violation_error_message
    ]
    assert missing == []


def errors_on(response) -> str:
    """The form's error list and the messages: what the user reads."""
    html = response.content.decode()
    assert response.status_code == 200, html
    return " ".join(
        str(error)
        for error in response.context["adminform"].form.errors.values()
        for error in error
    )


@pytest.mark.parametrize(
    "model, data, text",
    [
        (
            Charge,
            {"name": "Support", "charge_type": "recurring", "charge_model": "flat_fee",
             "billing_period": "", "taxable": "", "active": "on"},
            "A recurring charge needs a billing period, and only a recurring charge has one.",
        ),
        (
            Charge,
            {"name": "Support", "charge_type": "one_time", "charge_model": "flat_fee",
             "billing_period": "", "taxable": "on", "active": "on"},
            "A taxable charge needs a tax code.",
        ),
        (
            TaxRate,
            {"rate": "150", "effective_from": "2026-01-01"},
            "A tax rate is a percentage from 0 to 100.",
        ),
        (
            TaxRate,
            {"rate": "5", "effective_from": "2026-01-01", "effective_to": "2025-12-31"},
            "A tax rate cannot end before it starts.",
        ),
        (
            Subscription,
            {"start_date": "2026-02-01", "end_date": "2026-01-01"},
            "A subscription cannot end before it starts.",
        ),
        (
            Currency,
            {"code": "usd", "name": "Lower case", "minor_unit": "2"},
            "A currency code is three capital letters (ISO 4217), e.g. USD.",
        ),
    ],
    ids=["recurring-without-period", "taxable-without-code", "rate-over-100",
         "rate-ends-before-start", "subscription-ends-before-start", "currency-code"],
)  # fmt: skip
def test_a_refused_add_reads_as_a_sentence(admin_client, model, data, text):
    if model is Charge:
        data |= {"product": bf.ProductFactory().pk}
    if model is TaxRate:
        data |= {"tax_code": bf.TaxCodeFactory().pk}
    if model is Subscription:
        data |= {"account": bf.AccountFactory().pk}
    count = model.objects.count()
    response = admin_client.post(admin_url(model, "add"), data | {"_save": "Save"})
    shown = errors_on(response)
    assert text in shown
    assert "constraint" not in shown.lower() and "_" not in shown
    assert model.objects.count() == count


def test_a_constraint_the_form_could_not_check_still_reads_as_a_sentence(admin_client, monkeypatch):
    """Someone else's write between the form's check and the save: the database refuses it."""
    charge = bf.ChargeFactory(name="Support")
    url = change_url(charge)
    data = form_data(admin_client.get(url)) | {"name": "Premium support", "_save": "Save"}

    def refused(self, *args, **kwargs):
        raise IntegrityError(
            'new row for relation "billing_charge" violates check constraint '
            '"charge_taxable_has_tax_code"'
        )

    monkeypatch.setattr(Charge, "save", refused)
    response = admin_client.post(url, data)

    assert response.status_code == 302 and response.url == url
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "A taxable charge needs a tax code. Nothing was saved."
    ]
    monkeypatch.undo()
    charge.refresh_from_db()
    assert charge.name == "Support"


def test_an_unknown_database_refusal_reads_as_a_sentence(admin_client, monkeypatch):
    currency = bf.currency("EUR")
    url = change_url(currency)
    data = form_data(admin_client.get(url)) | {"name": "Euro!", "_save": "Save"}

    def refused(self, *args, **kwargs):
        raise IntegrityError("UNIQUE constraint failed: billing_currency.name")

    monkeypatch.setattr(Currency, "save", refused)
    response = admin_client.post(url, data)

    assert response.status_code == 302
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert message == (
        "The currency was not saved: it conflicts with data saved in the meantime. "
        "Reload the page and try again."
    )
