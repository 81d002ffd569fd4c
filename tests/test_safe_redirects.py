"""`next` never leads off the site (items 4 and 5 of "Production-ready").

Every view of ours that redirects to a `next` it was given goes through
billing.http.safe_next_url: only a URL of this site (Django's url_has_allowed_host_and_scheme)
without control characters, else the view's own default. Before, a plain POST to
/memos/<n>/transfer/ with next=https://evil.example/ redirected there, next=javascript:... was a
400 from Django's redirect guard, and next=%00 was followed as a relative URL. The login page is
Django's LoginView, which checks its `next` itself; it is tested here too.
"""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from memos.factories import MemoFactory
from memos.models import Memo, MemoStatus, TransferStatus
from tests.hostile_helpers import messages_of

pytestmark = pytest.mark.django_db

OFF_SITE = [
    pytest.param("https://evil.example/", id="https"),
    pytest.param("http://evil.example/memos/", id="http"),
    pytest.param("//evil.example/", id="scheme-relative"),
    pytest.param("///evil.example/", id="three-slashes"),
    pytest.param("/\\evil.example/", id="backslash"),
    pytest.param("\\\\evil.example/", id="backslashes"),
    pytest.param("https:evil.example", id="no-slashes"),
    pytest.param("http://testserver@evil.example/", id="userinfo"),
    pytest.param(" https://evil.example/", id="leading-space"),
    pytest.param("\thttps://evil.example/", id="leading-tab"),
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("JaVaScRiPt:alert(1)", id="javascript-mixed-case"),
    pytest.param("data:text/html,<script>alert(1)</script>", id="data"),
    pytest.param("\x00", id="nul"),
    pytest.param("/memos/\x00", id="nul-in-a-path"),
    pytest.param("/memos/?x=\x00", id="nul-in-a-query"),
    pytest.param("/memos/\r\nSet-Cookie: x=1", id="header-injection"),
]


@pytest.fixture
def memo():
    return MemoFactory(status=MemoStatus.POSTED)


def transfer(client, memo, next_url, value=TransferStatus.PROCESSING):
    return client.post(
        reverse("memos:memo_transfer", args=[memo.number]),
        {"transferred_to_accounting": value, "next": next_url},
    )


@pytest.mark.parametrize("next_url", OFF_SITE)
def test_transfer_ignores_a_next_off_the_site(client, reviewer, memo, next_url):
    client.force_login(reviewer)
    response = transfer(client, memo, next_url)
    assert response.status_code == 302
    assert response["Location"] == memo.get_absolute_url()
    # The change itself went through: only where it lands differs.
    assert Memo.objects.get(pk=memo.pk).transferred_to_accounting == TransferStatus.PROCESSING


@pytest.mark.parametrize("next_url", OFF_SITE)
def test_a_refused_transfer_ignores_a_next_off_the_site_too(client, reviewer, memo, next_url):
    client.force_login(reviewer)
    response = transfer(client, memo, next_url, value="bogus")
    assert response.status_code == 302
    assert response["Location"] == memo.get_absolute_url()


@pytest.mark.parametrize(
    "next_url", ["/memos/?status=posted&sort=-amount", "/memos/", "/", "http://testserver/memos/"]
)
def test_transfer_follows_a_next_on_the_site(client, reviewer, memo, next_url):
    client.force_login(reviewer)
    response = transfer(client, memo, next_url)
    assert response.status_code == 302
    assert response["Location"] == next_url
    assert "Transferred to Accounting is now Processing" in messages_of(client.get(next_url))[0]


@pytest.mark.parametrize("next_url", OFF_SITE)
def test_bulk_transfer_ignores_a_next_off_the_site(client, reviewer, memo, next_url):
    client.force_login(reviewer)
    response = client.post(
        reverse("memos:memo_bulk_transfer"),
        {"number": [memo.number], "transferred_to_accounting": "yes", "next": next_url},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("memos:memo_list")


@pytest.mark.parametrize("next_url", OFF_SITE)
def test_the_helper_answers_the_default_for_anything_off_the_site(next_url):
    from billing.http import safe_next_url

    request = RequestFactory().post("/memos/transfer/", {"next": next_url})
    assert safe_next_url(request, "/memos/") == "/memos/"


def test_the_helper_needs_https_for_an_absolute_url_on_a_secure_request():
    from billing.http import safe_next_url

    request = RequestFactory().post("/", {"next": "http://testserver/memos/"}, secure=True)
    assert safe_next_url(request, "/") == "/"
    request = RequestFactory().post("/", {"next": "https://testserver/memos/"}, secure=True)
    assert safe_next_url(request, "/") == "https://testserver/memos/"


# The login page percent-encodes control characters into a path of this site, which is no
# open redirect: only the URLs that leave the site apply to it.
LEAVING = [p for p in OFF_SITE if not p.id.startswith(("nul", "header"))]


@pytest.mark.parametrize("next_url", LEAVING)
def test_the_login_page_ignores_a_next_off_the_site(client, operator, next_url):
    """Django's LoginView checks its `next` the same way; kept here so every `next` is covered."""
    response = client.post(
        reverse("login"),
        {"username": operator.username, "password": "memodesk-pass", "next": next_url},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


@pytest.mark.parametrize("value", ["1e30", "NaN", "-1", "2026-02-30", "memos:memo_list", "home"])
def test_a_bare_word_is_not_read_as_a_view_name(value):
    """Found by the fuzz test: redirect() reverses a bare word as a view name (NoReverseMatch)."""
    from django.test import RequestFactory

    from billing.http import safe_next_url

    request = RequestFactory().post("/memos/CM00000001/transfer/", {"next": value})
    assert safe_next_url(request, "/fallback/") == "/fallback/"
