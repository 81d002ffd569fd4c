"""Reading what a request says: the text parameters that are looked up."""

from __future__ import annotations

from django.core.exceptions import BadRequest, ValidationError
from django.core.validators import ProhibitNullCharactersValidator

_no_nul = ProhibitNullCharactersValidator()


def query_text(params, name: str, default: str = "") -> str:
    """A text parameter (of request.GET or request.POST) that is looked up in the database.

    A NUL can never match (no text column holds one) and PostgreSQL refuses it in a query, so it
    is a 400 with the reason, as a form field refuses it (Django's own NUL validator).
    """
    value = params.get(name, default)
    try:
        _no_nul(value)
    except ValidationError as exc:
        raise BadRequest(f"{name}: {' '.join(exc.messages)}") from exc
    return value
