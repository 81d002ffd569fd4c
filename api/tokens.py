"""Making, finding and revoking personal API tokens (every write to ApiToken is here)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from api.models import ApiToken

PREFIX = "mdk_"
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def token_digest(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: nobody can guess one to hash.
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`: the row, and the token itself (shown once, never stored)."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the token (what will use it)."})
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=secret[: len(PREFIX) + 6], digest=token_digest(secret)
    )
    return token, secret


def revoke_api_token(*, user, token_id: int) -> ApiToken:
    """Revoke one of `user`'s own tokens; another user's token is as good as missing."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(user=user, pk=token_id).first()
        if token is None:
            raise ApiToken.DoesNotExist
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
    return token


def find_api_token(secret: str) -> ApiToken | None:
    """The token `secret` is, with its user, or None."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    return ApiToken.objects.select_related("user").filter(digest=token_digest(secret)).first()


def note_use(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def revoke_api_tokens(*, token_ids, actor) -> int:
    """Revoke any users' tokens (staff, from the Django admin); revoked ones stay as they were.
    Returns how many were revoked now."""
    with transaction.atomic():
        ids = list(
            ApiToken.objects.select_for_update()
            .filter(pk__in=list(token_ids), revoked_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        return ApiToken.objects.filter(pk__in=ids).update(revoked_at=timezone.now())
