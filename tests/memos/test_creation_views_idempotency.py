"""The create pages' idempotency keys: bound to the user and to the submitted content."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

import pytest
from django.test import Client

from billing import roles
from billing.factories import AccountFactory, ChargeFactory, UserFactory
from billing.services import InvoiceLine, create_invoice
from memos.models import Memo
from tests.memos.test_creation_views import (
    charge_form_data,
    charges_url,
    from_invoice_url,
    invoice_form_data,
)

pytestmark = pytest.mark.django_db


def platform_and_support_invoice():
    """The invoice of test_creation_views' `invoice` fixture: Platform 200 and Support 50."""
    return create_invoice(
        account=AccountFactory(name="Globex"),
        invoice_date=dt.date(2026, 10, 1),
        lines=[
            InvoiceLine(charge=ChargeFactory(name=name), quantity=Decimal(1), unit_price=price)
            for name, price in (("Platform", Decimal(200)), ("Support", Decimal(50)))
        ],
        post=True,
    )


@pytest.fixture
def invoice():
    return platform_and_support_invoice()


@pytest.fixture
def admin_client(db):
    other = Client()
    other.force_login(UserFactory(username="admin-user", roles=[roles.BILLING_ADMIN]))
    return other


def messages_of(response) -> list[str]:
    """The messages a followed POST showed on the page it ended on."""
    return [str(m) for m in response.context["messages"]]


def text_of(response) -> str:
    return html.unescape(response.content.decode())


def page_errors(response) -> str:
    html = response.content.decode()
    assert 'data-testid="page-errors"' in html, "no page errors shown"
    return html.split('data-testid="page-errors">')[1].split("</div></div>")[0]


# --- from an invoice -----------------------------------------------------------------------------


def test_a_resubmitted_invoice_form_says_the_memo_was_already_created(operator_client, invoice):
    data = invoice_form_data(invoice, {"Platform": "40"})
    first = operator_client.post(from_invoice_url(invoice), data, follow=True)
    memo = Memo.objects.get()
    assert messages_of(first) == [f"Credit memo {memo.number} was created as a draft."]
    second = operator_client.post(from_invoice_url(invoice), data, follow=True)
    assert second.redirect_chain == [(memo.get_absolute_url(), 302)]
    assert messages_of(second) == [f"Credit memo {memo.number} was already created from this form."]
    assert Memo.objects.count() == 1


def test_an_htmx_resubmit_is_sent_to_the_memo_too(operator_client, invoice):
    data = invoice_form_data(invoice, {"Platform": "40"})
    operator_client.post(from_invoice_url(invoice), data)
    again = operator_client.post(from_invoice_url(invoice), data, headers={"HX-Request": "true"})
    assert again["HX-Redirect"] == Memo.objects.get().get_absolute_url()


def test_the_invoice_form_with_a_used_key_and_other_content_is_refused(operator_client, invoice):
    operator_client.post(from_invoice_url(invoice), invoice_form_data(invoice, {"Platform": "40"}))
    memo = Memo.objects.get()
    response = operator_client.post(
        from_invoice_url(invoice), invoice_form_data(invoice, {"Platform": "41"})
    )
    assert response.status_code == 200
    errors = page_errors(response)
    assert f"This form was already used to create credit memo {memo.number}" in errors
    assert "nothing was created" in errors
    assert Memo.objects.count() == 1
    assert memo.amount == Decimal("44.00")


def test_another_users_key_is_refused_and_his_memo_is_not_shown(
    operator_client, admin_client, invoice
):
    """The incident: an admin posted another type, account and amount with an operator's key,
    was sent to the operator's memo with "was created as a draft", and his memo was lost."""
    operator_client.post(from_invoice_url(invoice), invoice_form_data(invoice, {"Platform": "40"}))
    memo = Memo.objects.get()
    account = AccountFactory()
    charge = ChargeFactory()
    data = charge_form_data(account, {"a1": {"charge": charge.pk, "unit_price": "999"}})
    data["idempotency_key"] = "key-1"  # the operator's key
    response = admin_client.post(charges_url("debit"), data)
    assert response.status_code == 200
    errors = page_errors(response)
    assert "This form was already used by another user, so nothing was created." in errors
    assert memo.number not in response.content.decode()
    assert list(Memo.objects.all()) == [memo]
    # The same invoice form, same content: still another user's key.
    again = admin_client.post(
        from_invoice_url(invoice), invoice_form_data(invoice, {"Platform": "40"})
    )
    assert again.status_code == 200
    assert "already used by another user" in page_errors(again)
    assert Memo.objects.count() == 1


# --- from charges --------------------------------------------------------------------------------


def test_the_charges_form_resubmitted_says_already_created_and_other_content_is_refused(
    operator_client,
):
    charge = ChargeFactory()
    account = AccountFactory()
    data = charge_form_data(account, {"a1": {"charge": charge.pk, "unit_price": "10"}})
    first = operator_client.post(charges_url(), data)
    memo = Memo.objects.get()
    assert first.status_code == 302
    operator_client.get(first.url)  # shows (and so consumes) the "created" message
    second = operator_client.post(charges_url(), data, follow=True)
    assert second.redirect_chain == [(memo.get_absolute_url(), 302)]
    assert messages_of(second) == [f"Debit memo {memo.number} was already created from this form."]
    changed = charge_form_data(account, {"a1": {"charge": charge.pk, "unit_price": "11"}})
    third = operator_client.post(charges_url(), changed)
    assert third.status_code == 200
    assert f"This form was already used to create debit memo {memo.number}" in page_errors(third)
    assert Memo.objects.count() == 1


# --- keys longer than the column ----------------------------------------------------------------

LONG_KEY_ERROR = (
    "This form's submission key is not valid. Reload the page and enter the memo again."
)


def test_an_overlong_key_on_the_invoice_form_is_a_form_error(operator_client, invoice):
    data = invoice_form_data(invoice, {"Platform": "40"}, idempotency_key="x" * 65)
    response = operator_client.post(from_invoice_url(invoice), data)
    assert response.status_code == 200
    assert LONG_KEY_ERROR in text_of(response)
    assert Memo.objects.count() == 0


def test_an_overlong_key_on_the_charges_form_is_a_form_error(operator_client):
    charge = ChargeFactory()
    data = charge_form_data(
        AccountFactory(),
        {"a1": {"charge": charge.pk, "unit_price": "10"}},
        idempotency_key="y" * 500,
    )
    response = operator_client.post(charges_url(), data)
    assert response.status_code == 200
    assert LONG_KEY_ERROR in text_of(response)
    assert Memo.objects.count() == 0
