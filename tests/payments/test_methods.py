"""An account's payment methods and Auto-Pay (DOMAIN.md 6): the services (one default per
account; refusals change nothing), the account page's actions per role, and the API's
/accounts/<number>/payment-methods/ and /auto-pay/ per role."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from api.tokens import revoke_api_token
from billing.models import Account
from payments.models import PaymentMethod, PaymentRun, PaymentRunScope, PaymentRunStatus
from payments.runs.services import create_payment_run
from payments.services.methods import (
    add_payment_method,
    make_default_payment_method,
    remove_payment_method,
    set_auto_pay,
)
from tests.api.conftest import token_client
from tests.payments.helpers import TARGET, account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def methods_of(acct) -> list[tuple[str, bool, bool]]:
    return list(
        PaymentMethod.objects.filter(account=acct)
        .order_by("pk")
        .values_list("label", "is_default", "active")
    )


def with_two_methods(*, auto_pay: bool = False):
    acct = account(auto_pay=auto_pay)  # Visa ending 4242, the default
    ach = add_payment_method(
        account=acct, method_type="ach", label="Checking ending 6789", gateway_token="tok_ach"
    )
    return acct, acct.payment_methods.get(label="Visa ending 4242"), ach


def refused(call, words: str, acct) -> None:
    """The call is refused with `words` in its message, and nothing changed."""
    methods, auto_pay = methods_of(acct), Account.objects.get(pk=acct.pk).auto_pay
    with pytest.raises(ValidationError) as caught:
        call()
    assert words in " ".join(caught.value.messages)
    assert methods_of(acct) == methods
    assert Account.objects.get(pk=acct.pk).auto_pay == auto_pay


# --- services --------------------------------------------------------------------------------
def test_make_default_moves_the_one_default():
    acct, visa, ach = with_two_methods()
    make_default_payment_method(payment_method=ach)
    assert methods_of(acct) == [
        ("Visa ending 4242", False, True),
        ("Checking ending 6789", True, True),
    ]
    make_default_payment_method(payment_method=ach)  # already the default: nothing moves
    assert PaymentMethod.objects.filter(account=acct, is_default=True).count() == 1


def test_remove_deactivates_and_the_oldest_other_becomes_default():
    acct, visa, ach = with_two_methods()
    remove_payment_method(payment_method=visa)
    assert methods_of(acct) == [
        ("Visa ending 4242", False, False),
        ("Checking ending 6789", True, True),
    ]
    refused(lambda: remove_payment_method(payment_method=visa), "removed already", acct)
    refused(lambda: make_default_payment_method(payment_method=visa), "cannot be the default", acct)
    remove_payment_method(payment_method=ach)  # Auto-Pay off: the last one may go
    assert methods_of(acct) == [
        ("Visa ending 4242", False, False),
        ("Checking ending 6789", False, False),
    ]


def test_removing_a_non_default_keeps_the_default():
    acct, visa, ach = with_two_methods()
    remove_payment_method(payment_method=ach)
    assert methods_of(acct) == [
        ("Visa ending 4242", True, True),
        ("Checking ending 6789", False, False),
    ]


def test_the_default_a_pending_run_will_charge_cannot_be_removed():
    acct, visa, ach = with_two_methods()
    run = create_payment_run(actor=None, target_date=TARGET)
    refused(
        lambda: remove_payment_method(payment_method=visa),
        f"{run.number} (Pending) will charge",
        acct,
    )
    remove_payment_method(payment_method=ach)  # not what the run charges
    # A run that only applies credit, or has the account out of its scope, does not depend on it.
    PaymentRun.objects.filter(pk=run.pk).update(status=PaymentRunStatus.COMPLETED)
    other = account()
    create_payment_run(actor=None, target_date=TARGET, scope=PaymentRunScope.ACCOUNT, account=other)
    create_payment_run(actor=None, target_date=TARGET, collect_payments=False)
    add_payment_method(account=acct, method_type="ach", label="Savings", gateway_token="t")
    remove_payment_method(payment_method=visa)
    assert acct.payment_methods.get(is_default=True).label == "Savings"


def test_the_last_method_of_an_auto_pay_account_stays():
    acct = account(auto_pay=True)
    visa = acct.payment_methods.get()
    refused(lambda: remove_payment_method(payment_method=visa), "turn Auto-Pay off first", acct)


def test_auto_pay_needs_a_payment_method():
    acct = account(auto_pay=False, token=None)
    refused(lambda: set_auto_pay(account=acct, auto_pay=True), "add one before", acct)
    add_payment_method(account=acct, method_type="credit_card", label="Visa", gateway_token="t")
    assert set_auto_pay(account=acct, auto_pay=True).auto_pay is True
    assert set_auto_pay(account=acct, auto_pay=False).auto_pay is False
    assert Account.objects.get(pk=acct.pk).auto_pay is False


def test_add_refuses_bad_input_and_adds_nothing():
    acct = account(auto_pay=False, token=None)
    refused(
        lambda: add_payment_method(
            account=acct, method_type="bitcoin", label=" ", gateway_token=""
        ),
        "Choose Credit Card",
        acct,
    )
    refused(
        lambda: add_payment_method(
            account=acct, method_type="ach", label="x" * 101, gateway_token="t"
        ),
        "At most 100",
        acct,
    )


def test_a_method_of_another_account_is_refused():
    acct, visa, _ = with_two_methods()
    other = account()
    with pytest.raises(ValidationError):
        make_default_payment_method(payment_method=PaymentMethod(pk=visa.pk, account=other))
    assert methods_of(acct)[0] == ("Visa ending 4242", True, True)


# --- the account page -------------------------------------------------------------------------
def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_operator_adds_makes_default_removes_and_saves_auto_pay(operator):
    acct = account(auto_pay=False)
    client = client_for(operator)
    page = client.get(acct.get_absolute_url()).content.decode()
    assert 'id="add-payment-method"' in page and 'id="auto-pay-form"' in page
    assert (
        "payment runs will charge this account's invoices to its default electronic method" in page
    )
    new_url = reverse("payments:payment_method_new", args=[acct.number])
    bad = client.post(new_url, {"method_type": "ach", "label": "", "gateway_token": "tok_secret"})
    assert bad.status_code == 200 and "tok_secret" not in bad.content.decode()  # write-only
    assert "This field is required." in bad.content.decode()
    done = client.post(
        new_url, {"method_type": "ach", "label": "Checking 6789", "gateway_token": "tok_secret"}
    )
    assert done.status_code == 302 and done["Location"] == acct.get_absolute_url()
    ach = acct.payment_methods.get(label="Checking 6789")
    assert ach.gateway_token == "tok_secret" and not ach.is_default
    page = client.get(acct.get_absolute_url()).content.decode()
    assert "tok_secret" not in page and "Checking 6789" in page
    # Remove opens a confirmation (focus on "Keep it") that posts to the method's remove URL.
    remove_url = reverse("payments:payment_method_remove", args=[acct.number, ach.pk])
    assert f'id="confirm-remove-method-{ach.pk}"' in page and f'action="{remove_url}"' in page
    assert "Remove Checking 6789 from " + acct.number in page
    client.post(reverse("payments:payment_method_default", args=[acct.number, ach.pk]))
    assert acct.payment_methods.get(is_default=True) == ach
    client.post(reverse("payments:auto_pay", args=[acct.number]), {"auto_pay": "on"})
    assert Account.objects.get(pk=acct.pk).auto_pay is True
    # The last method of an Auto-Pay account: refused, with the reason as a message.
    visa = acct.payment_methods.get(label="Visa ending 4242")
    client.post(reverse("payments:payment_method_remove", args=[acct.number, visa.pk]))
    answer = client.post(
        reverse("payments:payment_method_remove", args=[acct.number, ach.pk]), follow=True
    )
    assert "turn Auto-Pay off first" in answer.content.decode()
    assert methods_of(acct) == [("Visa ending 4242", False, False), ("Checking 6789", True, True)]
    client.post(reverse("payments:auto_pay", args=[acct.number]), {})  # unchecked: off
    assert Account.objects.get(pk=acct.pk).auto_pay is False


def test_a_method_of_another_account_is_a_404(operator):
    acct, other = account(), account()
    foreign = other.payment_methods.get()
    url = reverse("payments:payment_method_default", args=[acct.number, foreign.pk])
    assert client_for(operator).post(url).status_code == 404


@pytest.mark.parametrize("role", ["viewer", "reviewer"])
def test_viewers_and_reviewers_see_read_only_and_get_403(request, role):
    acct = account(auto_pay=False)
    visa = acct.payment_methods.get()
    client = client_for(request.getfixturevalue(role))
    page = client.get(acct.get_absolute_url()).content.decode()
    assert "Visa ending 4242" in page
    for marker in ('id="add-payment-method"', 'id="auto-pay-form"', "Make default", ">Remove<"):
        assert marker not in page
    posts = [
        (reverse("payments:payment_method_new", args=[acct.number]),
         {"method_type": "ach", "label": "X", "gateway_token": "t"}),
        (reverse("payments:payment_method_default", args=[acct.number, visa.pk]), {}),
        (reverse("payments:payment_method_remove", args=[acct.number, visa.pk]), {}),
        (reverse("payments:auto_pay", args=[acct.number]), {"auto_pay": "on"}),
    ]  # fmt: skip
    for url, data in posts:
        assert client.post(url, data).status_code == 403
    assert client.get(posts[0][0]).status_code == 403
    assert methods_of(acct) == [("Visa ending 4242", True, True)]
    assert Account.objects.get(pk=acct.pk).auto_pay is False


# --- the API ----------------------------------------------------------------------------------
def test_api_lists_adds_makes_default_removes_and_sets_auto_pay(operator, viewer):
    acct = account(auto_pay=False)
    base = f"/api/v1/accounts/{acct.number}"
    client = token_client(operator)
    body = {"method_type": "ach", "label": "Checking 6789", "gateway_token": "tok_secret"}
    created = client.post(
        f"{base}/payment-methods/", body, format="json", HTTP_IDEMPOTENCY_KEY="m1"
    )
    assert created.status_code == 201, created.json()
    assert "gateway_token" not in created.json() and "tok_secret" not in str(created.json())
    again = client.post(f"{base}/payment-methods/", body, format="json", HTTP_IDEMPOTENCY_KEY="m1")
    assert again.json() == created.json() and acct.payment_methods.count() == 2
    method_id = created.json()["id"]
    listed = token_client(viewer).get(f"{base}/payment-methods/").json()
    assert [(r["label"], r["is_default"]) for r in listed["results"]] == [
        ("Visa ending 4242", True), ("Checking 6789", False)
    ]  # fmt: skip
    made = client.post(f"{base}/payment-methods/{method_id}/default/")
    assert made.status_code == 200 and made.json()["is_default"] is True
    on = client.post(f"{base}/auto-pay/", {"auto_pay": True}, format="json")
    assert on.status_code == 200
    assert on.json() == {
        "account": acct.number,
        "auto_pay": True,
        "default_payment_method": "Checking 6789",
    }
    visa = acct.payment_methods.get(label="Visa ending 4242")
    assert client.post(f"{base}/payment-methods/{visa.pk}/remove/").json()["active"] is False
    last = client.post(f"{base}/payment-methods/{method_id}/remove/")
    assert last.status_code == 409 and "turn Auto-Pay off first" in str(last.json())
    assert acct.payment_methods.get(pk=method_id).active


def test_api_refusals_and_bad_input(operator):
    acct = account(auto_pay=False, token=None)
    base = f"/api/v1/accounts/{acct.number}"
    client = token_client(operator)
    bad = client.post(f"{base}/payment-methods/", {"method_type": "x"}, format="json")
    assert bad.status_code == 400 and {"method_type", "label", "gateway_token"} <= set(
        bad.json()["errors"]
    )
    no_method = client.post(f"{base}/auto-pay/", {"auto_pay": True}, format="json")
    assert no_method.status_code == 400 and "auto_pay" in no_method.json()["errors"]
    assert client.post(f"{base}/auto-pay/", {}, format="json").status_code == 400
    other = account()
    foreign = other.payment_methods.get()
    assert client.post(f"{base}/payment-methods/{foreign.pk}/default/").status_code == 404
    assert client.get("/api/v1/accounts/NOPE/payment-methods/").status_code == 404
    assert (
        client.post(
            "/api/v1/accounts/NOPE/auto-pay/", {"auto_pay": False}, format="json"
        ).status_code
        == 404
    )
    assert client.post(f"{base}/payment-methods/abc/remove/").status_code == 404
    assert not acct.payment_methods.exists() and not Account.objects.get(pk=acct.pk).auto_pay


@pytest.mark.parametrize("who", ["viewer", "reviewer", "anonymous", "revoked"])
def test_api_writes_refused_per_role(request, who):
    acct = account(auto_pay=False)
    visa = acct.payment_methods.get()
    if who in ("viewer", "reviewer"):
        client, status = token_client(request.getfixturevalue(who)), 403
    elif who == "revoked":
        operator = request.getfixturevalue("operator")
        client, status = token_client(operator), 401
        revoke_api_token(user=operator, token_id=operator.api_tokens.get().pk)
    else:
        client, status = APIClient(), 401
    base = f"/api/v1/accounts/{acct.number}"
    calls = [
        (f"{base}/payment-methods/", {"method_type": "ach", "label": "X", "gateway_token": "t"}),
        (f"{base}/payment-methods/{visa.pk}/default/", {}),
        (f"{base}/payment-methods/{visa.pk}/remove/", {}),
        (f"{base}/auto-pay/", {"auto_pay": True}),
    ]
    for url, data in calls:
        assert client.post(url, data, format="json").status_code == status, url
    read = client.get(f"{base}/payment-methods/")
    assert read.status_code == (200 if status == 403 else 401)
    assert methods_of(acct) == [("Visa ending 4242", True, True)]
    assert Account.objects.get(pk=acct.pk).auto_pay is False
