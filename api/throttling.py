"""Requests per token (per user on a browser session): API_THROTTLE_RATE, e.g. "600/minute";
beyond it 429 with Retry-After.

The counts live in the Django cache API_THROTTLE_CACHE: each process's memory by default, or a
shared cache (Redis: CACHE_URL) for one count per token across every process and machine. A
fixed window counted with the cache's atomic add and incr, so concurrent requests of one token
in several processes are all counted (DRF's own throttle reads and rewrites a list of times,
and two processes doing so at once can lose one's request).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from api.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    scope = "api"

    def __init__(self):
        # Read per request, not frozen at import, so a deployment (and a test) can set them.
        self.cache = caches[settings.API_THROTTLE_CACHE]
        super().__init__()

    def get_rate(self):
        return settings.API_THROTTLE_RATE or None

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return f"throttle_api_{ident}"

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        self.wait_until = (window + 1) * self.duration
        self.now = now
        counter = f"{key}:{self.duration}:{window}"
        # add() creates the window's counter once; incr() counts atomically (Redis INCR).
        self.cache.add(counter, 0, timeout=self.duration + 1)
        try:
            count = self.cache.incr(counter)
        except ValueError:  # expired between add and incr: a new window
            self.cache.add(counter, 1, timeout=self.duration + 1)
            count = 1
        return count <= self.num_requests

    def wait(self):
        return max(1, int(self.wait_until - self.now + 0.999))
