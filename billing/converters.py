"""The path converter of document numbers in URLs (/memos/<number>/, /invoices/<number>/, ...).

Numbers are a prefix of A-Z a-z 0-9 - _ and a zero-padded counter (DOMAIN.md 2.7), so a path
segment outside that alphabet names no document: it is a 404 before any view runs, and never
reaches a query (a NUL there is a DataError on PostgreSQL: "A string literal cannot contain NUL").
"""

from __future__ import annotations

import functools
import re

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, register_converter, reverse
from django.urls.converters import StringConverter

# Prefix (1-16) + 8 digits today; the slack keeps longer counters and imported numbers valid.
DOCUMENT_NUMBER = r"[A-Za-z0-9_-]{1,40}"
_DOCUMENT_NUMBER = re.compile(DOCUMENT_NUMBER, re.ASCII)


def is_document_number(text: str) -> bool:
    """Whether `text` could be a document number (of any series): worth looking up."""
    return isinstance(text, str) and _DOCUMENT_NUMBER.fullmatch(text) is not None


class DocumentNumberConverter(StringConverter):
    regex = DOCUMENT_NUMBER


register_converter(DocumentNumberConverter, "doc")


# A number no document has, in the converter's alphabet, that no URL pattern text contains.
_MARK = "0DOCUMENT0NUMBER0"


@functools.lru_cache(maxsize=256)
def _around_number(url_name: str, script_prefix: str, urlconf) -> tuple[str, str]:
    url = reverse(url_name, args=[_MARK], urlconf=urlconf)
    head, mark, tail = url.partition(_MARK)
    if not mark or _MARK in tail:
        raise ValueError(f"{url_name} does not take one document number")
    return head, tail


def document_url(url_name: str, number: str) -> str:
    """reverse(url_name, args=[number]) for a URL taking one document number (<doc:number>).

    List pages link every number they show: 100 to 200 reverse() calls, a third of a 50-row
    page's rendering. The URL is the pattern's text around the number, so reverse once per URL
    name (script prefix and URLconf) and put the number in: the alphabet needs no quoting. A
    value that is no document number goes through reverse(), which refuses it as before.
    """
    if not is_document_number(number):
        return reverse(url_name, args=[number])
    urlconf = get_urlconf() or settings.ROOT_URLCONF
    head, tail = _around_number(url_name, get_script_prefix(), urlconf)
    return f"{head}{number}{tail}"
