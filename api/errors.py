"""Every error in one shape (DESIGN.md API conventions):

    {"errors": {"<field or row key>": ["message", ...]}}

400 invalid input (the services' own messages), 401, 403, 404, 409 refused by the document's
state, 422 an Idempotency-Key used for another request, 429 throttled (with Retry-After).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

ALL = "__all__"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Refused in the document's current state."
    default_code = "conflict"


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was already used for another request."
    default_code = "idempotency_key_reused"


def messages_by_key(error: DjangoValidationError) -> dict[str, list[str]]:
    """A service's ValidationError keyed as the API shows it."""
    if hasattr(error, "error_dict"):
        return {key: list(messages) for key, messages in error.message_dict.items()}
    return {ALL: list(error.messages)}


def conflict(error: DjangoValidationError) -> Conflict:
    """A service's refusal of an action in the document's state, as a 409."""
    return Conflict(detail=messages_by_key(error))


def flatten(data, key: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as flat keys: {"memo_date": [...], "lines.0.amount": [...]}
    (rows keyed by their index; errors of the whole request or row under "__all__" / the row)."""
    out: dict[str, list[str]] = {}

    def merge(part: dict[str, list[str]]) -> None:
        for k, messages in part.items():
            out.setdefault(k, []).extend(messages)

    if isinstance(data, dict):
        for name, value in data.items():
            name = str(name)
            if name in ("non_field_errors", "detail", ALL):
                child = key
            else:
                child = f"{key}.{name}" if key else name
            merge(flatten(value, child))
    elif isinstance(data, list) and any(isinstance(v, dict | list) for v in data):
        for index, value in enumerate(data):
            if value:
                merge(flatten(value, f"{key}.{index}" if key else str(index)))
    elif isinstance(data, list):
        merge({key or ALL: [str(v) for v in data]})
    elif data not in (None, ""):
        merge({key or ALL: [str(data)]})
    return out


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=messages_by_key(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    response.data = {"errors": flatten(response.data) or {ALL: [str(exc)]}}
    return response
