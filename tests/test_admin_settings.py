"""Billing settings that cannot work are refused (a probe chose "Third-party tax engine" with no
URL; every memo was then created with Tax Status Error under a green "created" message)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from billing.models import BillingSettings, TaxEngine
from tests.test_admin import change_url, form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_third_party_engine_without_url_is_refused_in_words(admin_client):
    settings = BillingSettings.load()
    url = change_url(settings)
    data = form_data(admin_client.get(url))
    data.update(tax_engine=TaxEngine.THIRD_PARTY, tax_engine_url="")
    response = admin_client.post(url, data)
    assert response.status_code == 200  # the form again, with the error
    assert "The third-party tax engine needs its URL" in response.content.decode()
    settings.refresh_from_db()
    assert settings.tax_engine == TaxEngine.BUILT_IN


def test_third_party_engine_with_url_is_saved(admin_client):
    settings = BillingSettings.load()
    url = change_url(settings)
    data = form_data(admin_client.get(url))
    data.update(tax_engine=TaxEngine.THIRD_PARTY, tax_engine_url="https://tax.example.com/v1")
    assert admin_client.post(url, data).status_code == 302
    settings.refresh_from_db()
    assert settings.tax_engine_url == "https://tax.example.com/v1"


def test_the_database_refuses_it_too():
    with pytest.raises(IntegrityError), transaction.atomic():
        BillingSettings.objects.filter(pk=1).update(
            tax_engine=TaxEngine.THIRD_PARTY, tax_engine_url=""
        )
