"""The seller's details and the bill-to contact are edited in the Django admin (DOMAIN.md 7);
the logo upload takes a small PNG or JPEG only, and stores it under MEDIA_ROOT."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.factories import AccountFactory
from billing.models import BillingSettings
from tests.test_admin import change_url, form_data

from .test_pdf import PNG

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    client.force_login(superuser)
    return client


def test_seller_details_and_logo_are_saved(admin_client, settings):
    billing = BillingSettings.load()
    url = change_url(billing)
    data = form_data(admin_client.get(url))
    data.update(
        seller_name="Acme Billing Ltd",
        seller_address="1 Road\nTown",
        seller_tax_id="GB123",
        document_footer="Thank you",
        seller_logo=SimpleUploadedFile("brand.png", PNG, content_type="image/png"),
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    billing.refresh_from_db()
    assert (billing.seller_name, billing.seller_tax_id) == ("Acme Billing Ltd", "GB123")
    assert billing.seller_logo.name.startswith("seller/logo")
    assert (settings.MEDIA_ROOT / billing.seller_logo.name).read_bytes() == PNG
    # Saving again without a new logo keeps it (the stored file is not re-checked).
    data = form_data(admin_client.get(url))
    data["seller_name"] = "Acme Billing Limited"
    assert admin_client.post(url, data).status_code == 302


def test_a_logo_that_is_not_png_or_jpeg_is_refused(admin_client):
    billing = BillingSettings.load()
    url = change_url(billing)
    data = form_data(admin_client.get(url))
    data["seller_logo"] = SimpleUploadedFile("logo.png", b"GIF89a" + b"\0" * 40)
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "The logo must be a PNG or JPEG image." in response.content.decode()
    billing.refresh_from_db()
    assert not billing.seller_logo


def test_the_bill_to_contact_is_edited_on_the_account(admin_client):
    account = AccountFactory()
    url = change_url(account)
    data = form_data(admin_client.get(url))
    data.update(
        bill_to_name="AP Team",
        bill_to_email="ap@customer.example",
        bill_to_address="2 Street\nCity",
    )
    assert admin_client.post(url, data).status_code == 302
    account.refresh_from_db()
    assert (account.bill_to_name, account.bill_to_email) == ("AP Team", "ap@customer.example")
    data["bill_to_email"] = "not an address"
    response = admin_client.post(url, data)
    assert (
        response.status_code == 200 and "Enter a valid email address." in response.content.decode()
    )
