"""Personal API tokens: the page that makes and revokes them, and Bearer authentication."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from api.models import ApiToken
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db
TOKENS = "/api-tokens/"
SCHEMA = "/api/v1/schema/"


def test_the_page_makes_a_token_shown_once_and_stores_only_its_digest(client, operator):
    client.force_login(operator)
    response = client.post(TOKENS, {"name": "Ledger export"})
    assert response.status_code == 201
    secret = re.search(r'id="new-token-value"[^>]*value="([^"]+)"', response.text).group(1)
    token = ApiToken.objects.get(user=operator)
    assert token.name == "Ledger export"
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {token.prefix, token.digest, token.name}
    # Listed afterwards by name and prefix, never again in full.
    page = client.get(TOKENS)
    assert "Ledger export" in page.text and token.prefix in page.text
    assert secret not in page.text
    assert page["Cache-Control"].count("no-store") == 1


def test_a_token_without_a_name_is_refused_beside_the_field(client, operator):
    client.force_login(operator)
    response = client.post(TOKENS, {"name": "  "})
    assert response.status_code == 200
    assert "This field is required." in response.text
    assert not ApiToken.objects.exists()


def test_revoking_a_token_makes_it_answer_401(client, operator):
    api = token_client(operator)
    assert api.get(SCHEMA).status_code == 200
    token = ApiToken.objects.get(user=operator)
    assert token.last_used_at is not None
    client.force_login(operator)
    response = client.post(reverse("api_tokens:token_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    answer = api.get(SCHEMA)
    assert answer.status_code == 401
    assert answer.json() == {"errors": {"__all__": ["The token was revoked."]}}
    assert "Revoked" in client.get(TOKENS).text


def test_nobody_revokes_another_users_token(client, operator, viewer):
    token_client(operator)
    token = ApiToken.objects.get(user=operator)
    client.force_login(viewer)
    assert client.post(reverse("api_tokens:token_revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_user_without_a_role_may_not_open_the_page_or_use_a_token(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(TOKENS).status_code == 403
    api = token_client(no_role_user)
    assert api.get(SCHEMA).status_code == 403


@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer"])
def test_both_keywords_authenticate(operator, keyword):
    assert token_client(operator, keyword=keyword).get(SCHEMA).status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer mdk_not-a-token", "Bearer", "Bearer a b", "Token " + "x" * 500],
)
def test_unknown_or_malformed_tokens_get_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(SCHEMA)
    assert response.status_code == 401
    assert list(response.json()) == ["errors"]


def test_anonymous_gets_401_with_a_challenge():
    response = APIClient().get(SCHEMA)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == {
        "errors": {"__all__": ["Authentication credentials were not provided."]}
    }


def test_an_inactive_users_token_gets_401(operator):
    api = token_client(operator)
    operator.is_active = False
    operator.save()
    assert api.get(SCHEMA).status_code == 401


def test_the_navigation_links_the_tokens_page_and_the_docs(client, viewer, no_role_user):
    client.force_login(viewer)
    home = client.get("/").text
    assert f'href="{TOKENS}"' in home and 'href="/api/v1/docs/"' in home
    client.force_login(no_role_user)
    home = client.get("/").text
    assert TOKENS not in home and "/api/v1/docs/" not in home


# --- the Django admin -----------------------------------------------------------------------------


def test_the_admin_lists_tokens_never_their_secret_and_revokes_them(client, superuser, operator):
    api = token_client(operator)
    token = ApiToken.objects.get(user=operator)
    client.force_login(superuser)
    listing = client.get("/admin/api/apitoken/?q=" + operator.username)
    assert listing.status_code == 200
    html = listing.content.decode()
    assert token.prefix in html and api.secret not in html
    page = client.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert token.digest in page and api.secret not in page
    assert 'name="digest"' not in page  # read-only, not an input
    assert client.get("/admin/api/apitoken/add/").status_code == 403
    response = client.post(
        "/admin/api/apitoken/",
        {"action": "revoke_selected", "_selected_action": [token.pk]},
        follow=True,
    )
    assert "1 token revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked
    assert api.get("/api/v1/memos/").status_code == 401
