"""Idempotency-Key on every POST (DESIGN.md API conventions): the same user sending the same key
with the same request gets the first answer again and nothing is done twice; the same key with
another request is refused (422). Keys are kept API_IDEMPOTENCY_HOURS (at least 24).

Creates hand the key to the memo services, which keep it on the memo they make
(memos/services/idempotency.py: the same mechanism as the UI's create forms, safe under
concurrency by the memo's unique key). Other POSTs store their answer here (IdempotentRequest).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from api.errors import Conflict, IdempotencyKeyReused
from api.models import IdempotentRequest
from memos.models import IDEMPOTENCY_KEY_LENGTH
from memos.services.idempotency import content_digest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"


def request_key(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            {HEADER: [f"An Idempotency-Key is 1 to {MAX_KEY_LENGTH} characters."]}
        )
    return key


def memo_key(request) -> str | None:
    """The key as a memo stores it: bound to the user (two users' keys never meet) and short
    enough for the memo's column whatever the client sent."""
    key = request_key(request)
    if key is None:
        return None
    digest = hashlib.sha256(f"{request.user.pk}:{key}".encode()).hexdigest()
    return ("api-" + digest)[:IDEMPOTENCY_KEY_LENGTH]


def fingerprint(request) -> str:
    # The parsed body, written canonically as the UI's keys are (100 and 100.00 are one amount).
    return content_digest({"method": request.method, "path": request.path, "body": request.data})


def _claim(request, key: str, print_: str) -> IdempotentRequest | None:
    """Claim the key for this request (None), or return the request that already holds it."""
    cutoff = timezone.now() - dt.timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    with transaction.atomic():
        IdempotentRequest.objects.filter(user=request.user, created_at__lt=cutoff).delete()
    try:
        with transaction.atomic():
            IdempotentRequest.objects.create(user=request.user, key=key, fingerprint=print_)
    except IntegrityError:
        return IdempotentRequest.objects.get(user=request.user, key=key)
    return None


def idempotent(action):
    """For a POST action of a viewset: run it once per Idempotency-Key, replay its answer."""

    @functools.wraps(action)
    def wrapper(view, request, *args, **kwargs):
        key = request_key(request)
        if key is None:
            return action(view, request, *args, **kwargs)
        print_ = fingerprint(request)
        held = _claim(request, key, print_)
        if held is not None:
            if held.fingerprint != print_:
                raise IdempotencyKeyReused()
            if held.status_code is None:
                raise Conflict("A request with this Idempotency-Key is still being answered.")
            return Response(held.body, status=held.status_code, headers={REPLAYED_HEADER: "true"})
        try:
            response = action(view, request, *args, **kwargs)
        except BaseException:
            # Refused or failed: nothing was done, so the key is free for a retry.
            IdempotentRequest.objects.filter(user=request.user, key=key).delete()
            raise
        body = json.loads(JSONRenderer().render(response.data)) if response.data else None
        IdempotentRequest.objects.filter(user=request.user, key=key).update(
            status_code=response.status_code, body=body
        )
        return response

    return wrapper


def created_or_replayed(memo_or_obj, data) -> Response:
    replayed = getattr(memo_or_obj, "replayed", False)
    return Response(
        data,
        status=status.HTTP_201_CREATED,
        headers={REPLAYED_HEADER: "true"} if replayed else None,
    )
