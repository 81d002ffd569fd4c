"""Reading what a request says: its `next` URL and the text parameters that are looked up."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import BadRequest, ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

_no_nul = ProhibitNullCharactersValidator()


def safe_next_url(request: HttpRequest, default: str, *, param: str = "next") -> str:
    """The `next` of the request (form, else query) when it is a URL of this site, else `default`.

    Every redirect to a `next` goes through here, so none leads off the site (an open
    redirect): Django's url_has_allowed_host_and_scheme decides what is this site, and a URL with
    a control character (a NUL, a line break) is refused outright, whatever a browser would
    make of it.
    """
    candidate = request.POST.get(param) or request.GET.get(param) or ""
    if not candidate or any(unicodedata.category(ch) == "Cc" for ch in candidate):
        return default
    if not url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return default
    # Only a path of this site ("/memos/?status=posted") or a URL with its host: a bare word would
    # be read by redirect() as the name of a view ("1e30" -> NoReverseMatch, a 500).
    if not candidate.startswith("/") and "://" not in candidate:
        return default
    return candidate


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
