"""The per-token rate (api/throttling.py): counted in the configured Django cache, atomically,
so a shared cache (Redis, CACHE_URL) gives one count per token across every process."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import caches

from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db
MEMOS = "/api/v1/memos/"
REDIS_URL = "redis://127.0.0.1:6379/15"


def redis_client():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    return client


def test_the_count_is_in_the_configured_cache_and_a_new_window_starts_afresh(operator, settings):
    settings.API_THROTTLE_RATE = "2/minute"
    api = token_client(operator)
    assert [api.get(MEMOS).status_code for _ in range(3)] == [200, 200, 429]
    # Another process reading the same cache sees the same count: here, the counter is gone
    # once the cache is emptied (a new window), and the token may call again.
    caches["default"].clear()
    assert api.get(MEMOS).status_code == 200


def test_no_rate_means_no_throttle(operator, settings):
    settings.API_THROTTLE_RATE = ""
    api = token_client(operator)
    assert {api.get(MEMOS).status_code for _ in range(5)} == {200}


def test_with_redis_every_process_shares_one_count_per_token(operator, settings):
    client = redis_client()
    prefix = f"memodesk-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        },
    }
    settings.API_THROTTLE_CACHE = "shared"
    settings.API_THROTTLE_RATE = "3/minute"
    api = token_client(operator)
    try:
        assert [api.get(MEMOS).status_code for _ in range(2)] == [200, 200]
        # What another process (its own connection, here a plain Redis client) reads: the count.
        [key] = client.keys(f"{prefix}:*throttle_api_token*")
        assert int(client.get(key)) == 2
        # A request counted elsewhere (another process of the same deployment) counts here too.
        client.incr(key)
        throttled = api.get(MEMOS)
        assert throttled.status_code == 429 and int(throttled["Retry-After"]) >= 1
    finally:
        for key in client.keys(f"{prefix}:*"):
            client.delete(key)
