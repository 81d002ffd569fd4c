"""Access matrix: every URL x method (GET, POST, htmx GET, htmx POST) x the four roles of
DOMAIN.md section 5 and anonymous, with CSRF enforced, against one table of expected outcomes.

What it proves:
- each (URL, method, role) gets exactly the outcome ACCESS writes down: the page (200), a redirect
  (302: an action done or refused, with its message), 403 without the permission, 405 for a
  method the endpoint does not take, the login page for anonymous users (for htmx: HX-Redirect
  to it, never a login form swapped into the page);
- every POST without a CSRF token is refused (403), whoever sends it;
- the table agrees with the roles: a 403 exactly where the role lacks the view's permission;
- a new URL without a row in ACCESS fails `test_every_url_has_a_row`.

It sits beside tests/test_url_permissions.py and reuses its walk and its path kwargs (KWARGS).
The documents are made by the services (tests/reliability/world.py) rather than that module's
factories, whose credit memo has an amount but no items (reversing it would be a 500 no real memo
can cause). Each request runs in a savepoint that is rolled back, so every cell meets the same
documents.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from tests.reliability import counts
from tests.reliability.world import build_world
from tests.test_url_permissions import KWARGS, all_patterns, view_class

ROLES = ("billing_admin", "operator", "reviewer", "viewer", "anonymous")
METHODS = ("GET", "POST", "htmx GET", "htmx POST")

# Outcome codes: 200 the page; 302 a redirect (not to the login page); 403; 405; login: redirect
# to the login page with next=; hx: htmx redirect (HX-Redirect, not to the login page); hx-login:
# HX-Redirect to the login page.
# One row per URL name: for GET | POST | htmx GET | htmx POST, the outcome for
# Billing admin, Billing operator, Accounting reviewer, Billing viewer, anonymous.
# (POSTs carry a valid CSRF token and no fields. The memo is a posted credit memo with an
# application to an invoice, the bill run a completed one without documents.)
# fmt: off
ACCESS: dict[str, str] = {
    "login": "302 302 302 302 200 | 302 302 302 302 200 | 302 302 302 302 200 | 302 302 302 302 200",  # noqa: E501
    "logout": "405 405 405 405 login | 302 302 302 302 login | 405 405 405 405 hx-login | 302 302 302 302 hx-login",  # noqa: E501
    "home": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "billing:account_list": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "billing:account_detail": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "billing:invoice_list": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "billing:invoice_detail": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "billing:invoice_post": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "billing:invoice_cancel": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "billing:bill_run_list": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "billing:bill_run_new": "200 200 403 403 login | 200 200 403 403 login | 200 200 403 403 hx-login | 200 200 403 403 hx-login",  # noqa: E501
    "billing:bill_run_detail": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "billing:bill_run_post": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "billing:bill_run_cancel": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "billing:bill_run_delete": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "billing:bill_run_retry": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "memos:memo_list": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "memos:memo_create": "200 200 403 403 login | 200 200 403 403 login | 200 200 403 403 hx-login | 200 200 403 403 hx-login",  # noqa: E501
    "memos:memo_export": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "memos:memo_bulk_transfer": "405 403 405 403 login | 302 403 302 403 login | 405 403 405 403 hx-login | 200 403 200 403 hx-login",  # noqa: E501
    "memos:memo_detail": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "memos:memo_submit": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "memos:memo_approve": "405 403 403 403 login | 302 403 403 403 login | 405 403 403 403 hx-login | hx 403 403 403 hx-login",  # noqa: E501
    "memos:memo_reject": "405 403 403 403 login | 302 403 403 403 login | 405 403 403 403 hx-login | hx 403 403 403 hx-login",  # noqa: E501
    "memos:credit_insight": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "memos:credit_insight_csv": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "memos:memo_edit": "200 200 403 403 login | 200 302 403 403 login | 200 200 403 403 hx-login | 200 hx 403 403 hx-login",  # noqa: E501
    "memos:memo_post": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "memos:memo_unpost": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "memos:memo_cancel": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "memos:memo_delete": "403 403 403 403 login | 403 403 403 403 login | 403 403 403 403 hx-login | 403 403 403 403 hx-login",  # noqa: E501
    "memos:memo_recalculate_tax": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "memos:memo_transfer": "405 403 405 403 login | 302 403 302 403 login | 405 403 405 403 hx-login | 200 403 200 403 hx-login",  # noqa: E501
    "memos:memo_apply": "200 200 403 403 login | 200 200 403 403 login | 200 200 403 403 hx-login | 200 200 403 403 hx-login",  # noqa: E501
    "memos:memo_unapply": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "memos:memo_refund": "200 200 403 403 login | 200 200 403 403 login | 200 200 403 403 hx-login | 200 200 403 403 hx-login",  # noqa: E501
    "memos:memo_reverse": "405 403 403 403 login | 302 403 403 403 login | 405 403 403 403 hx-login | hx 403 403 403 hx-login",  # noqa: E501
    "memos:memo_write_off": "405 403 403 403 login | 302 403 403 403 login | 405 403 403 403 hx-login | hx 403 403 403 hx-login",  # noqa: E501
    "memos:memo_create_from_invoice": "200 200 403 403 login | 200 200 403 403 login | 200 200 403 403 hx-login | 200 200 403 403 hx-login",  # noqa: E501
    # Customer documents (DOMAIN.md 7): the PDF for every role; emailing for operator and admin
    # (the world's account has no bill-to email: refused with a message, nothing queued); email 1
    # is no email of this document: 404.
    "billing:invoice_pdf": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "billing:invoice_email": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "billing:invoice_email_retry": "405 405 403 403 login | 404 404 403 403 login | 405 405 403 403 hx-login | 404 404 403 403 hx-login",  # noqa: E501
    "memos:memo_pdf": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "memos:memo_email": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "memos:memo_email_retry": "405 405 403 403 login | 404 404 403 403 login | 405 405 403 403 hx-login | 404 404 403 403 hx-login",  # noqa: E501
    # A POST without fields re-renders the form with its error; token 1 is nobody's here: 404.
    "api_tokens:token_list": "200 200 200 200 login | 200 200 200 200 login | 200 200 200 200 hx-login | 200 200 200 200 hx-login",  # noqa: E501
    "api_tokens:token_revoke": "405 405 405 405 login | 404 404 404 404 login | 405 405 405 405 hx-login | 404 404 404 404 hx-login",  # noqa: E501
    "payments:payment_list": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "payments:payment_export": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "payments:payment_detail": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "payments:payment_new": "200 200 403 403 login | 200 200 403 403 login | 200 200 403 403 hx-login | 200 200 403 403 hx-login",  # noqa: E501
    "payments:payment_apply": "405 405 403 403 login | 200 200 403 403 login | 405 405 403 403 hx-login | 200 200 403 403 hx-login",  # noqa: E501
    "payments:payment_cancel": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "payments:payment_unapply": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "payments:payment_run_list": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "payments:payment_run_detail": "200 200 200 200 login | 405 405 405 405 login | 200 200 200 200 hx-login | 405 405 405 405 hx-login",  # noqa: E501
    "payments:payment_run_new": "200 200 403 403 login | 200 200 403 403 login | 200 200 403 403 hx-login | 200 200 403 403 hx-login",  # noqa: E501
    "payments:payment_run_cancel": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    # Payment methods of the account: the second (not the default) is made default and removed;
    # a POST to auto-pay without fields turns it off (it is off already).
    "payments:payment_method_new": "200 200 403 403 login | 200 200 403 403 login | 200 200 403 403 hx-login | 200 200 403 403 hx-login",  # noqa: E501
    "payments:payment_method_default": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "payments:payment_method_remove": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "payments:auto_pay": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
    "payments:payment_run_retry": "405 405 403 403 login | 302 302 403 403 login | 405 405 403 403 hx-login | hx hx 403 403 hx-login",  # noqa: E501
}
# fmt: on


def expected(name: str, method: str, role: str) -> str:
    groups = [group.split() for group in ACCESS[name].split("|")]
    return groups[METHODS.index(method)][ROLES.index(role)]


def url_names() -> list[str]:
    return sorted({name for name, _route, _pattern in all_patterns() if name})


def outcome(response, url: str) -> str:
    """The response as a code of the table."""
    hx = response.get("HX-Redirect")
    if hx:
        return "hx-login" if _is_login(hx, url) else "hx"
    if response.status_code == 302:
        return "login" if _is_login(response["Location"], url) else "302"
    return str(response.status_code)


def _is_login(location: str, url: str) -> bool:
    parts = urlsplit(location)
    return parts.path == reverse("login") and "next=" in parts.query


def test_every_url_has_a_row():
    names = set(url_names())
    missing = names - set(ACCESS)
    assert not missing, f"URLs without a row in ACCESS (add what each role gets): {missing}"
    stale = set(ACCESS) - names
    assert not stale, f"ACCESS names URLs that no longer exist: {stale}"
    for name, row in ACCESS.items():
        groups = [group.split() for group in row.split("|")]
        assert [len(g) for g in groups] == [len(ROLES)] * len(METHODS), name


@pytest.fixture
def urls(db) -> dict[str, str]:
    """Every URL, its path filled by KWARGS from documents the services made."""
    world = build_world()
    names = url_names()
    return {
        name: reverse(name, kwargs=KWARGS[name](world) if name in KWARGS else {}) for name in names
    }


@pytest.mark.django_db
def test_the_table_agrees_with_the_roles(request):
    """A 403 in the table exactly where the role lacks the view's permissions (DOMAIN.md 5)."""
    views = {name: view_class(pattern) for name, _route, pattern in all_patterns() if name}
    for role in ROLES[:-1]:
        user = request.getfixturevalue(role)
        for name, view in views.items():
            if not hasattr(view, "get_permission_required"):
                continue  # login, logout
            allowed = user.has_perms(view().get_permission_required())
            for method in METHODS:
                assert (expected(name, method, role) == "403") == (not allowed), (
                    name,
                    method,
                    role,
                )


def csrf_client(request, role: str) -> tuple[Client, str]:
    """A client with CSRF checks on, signed in as `role` (or anonymous), and its token."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
        client.get(reverse("home"))
    else:
        client.get(reverse("login"))
    return client, client.cookies["csrftoken"].value


def send(client: Client, url: str, method: str, token: str | None):
    headers = {"HX-Request": "true"} if method.startswith("htmx") else {}
    cookies = client.cookies.copy()
    try:
        with transaction.atomic():
            if method.endswith("GET"):
                response = client.get(url, headers=headers)
            else:
                if token:
                    headers["X-CSRFToken"] = token
                response = client.post(url, {}, headers=headers)
            transaction.set_rollback(True)
            return response
    finally:
        client.cookies = cookies  # a logout or a rotated token must not leak into the next cell


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(request, role, urls):
    client, token = csrf_client(request, role)
    every = urls
    wrong, cells = [], 0
    for name, url in sorted(every.items()):
        for method in METHODS:
            got = outcome(send(client, url, method, token), url)
            cells += 1
            if got != expected(name, method, role):
                wrong.append(f"{name} {method}: expected {expected(name, method, role)}, got {got}")
            if method.endswith("POST"):
                # The same POST without its token: refused, whoever sends it.
                response = send(client, url, method, None)
                cells += 1
                if response.status_code != 403:
                    wrong.append(
                        f"{name} {method} without a CSRF token: got {response.status_code}"
                    )
    counts.add("access matrix cells", cells)
    assert not wrong, f"{role}:\n" + "\n".join(wrong)
