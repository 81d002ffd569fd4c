"""API test helpers: a client per user with a fresh personal token."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api.tokens import create_api_token, revoke_api_token


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    # The throttle counts live in the cache, which outlives each test's database rollback (ids
    # are reused on SQLite): start every test from zero.
    cache.clear()
    yield
    cache.clear()


def token_client(user, *, keyword: str = "Bearer") -> APIClient:
    _, secret = create_api_token(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {secret}")
    client.secret = secret
    return client


@pytest.fixture
def api_as():
    return token_client


@pytest.fixture
def revoked_client(operator) -> APIClient:
    client = token_client(operator)
    token = operator.api_tokens.get()
    revoke_api_token(user=operator, token_id=token.pk)
    return client
