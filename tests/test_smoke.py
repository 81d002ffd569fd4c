import pytest

from billing.factories import AccountFactory, ChargeFactory
from billing.services import InvoiceLine, create_invoice


@pytest.mark.django_db
def test_operator_opens_invoice(operator_client):
    account = AccountFactory()
    invoice = create_invoice(
        account=account,
        invoice_date=account.created_at.date(),
        lines=[InvoiceLine(charge=ChargeFactory(), quantity=1, unit_price=100)],
        post=True,
    )
    for url in [
        "/",
        "/accounts/",
        f"/accounts/{account.number}/",
        "/invoices/",
        f"/invoices/{invoice.number}/",
        "/memos/",
        "/bill-runs/",
    ]:
        response = operator_client.get(url)
        assert response.status_code == 200, url
    assert invoice.amount == 110
