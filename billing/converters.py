"""The path converter of document numbers in URLs (/memos/<number>/, /invoices/<number>/, ...).

Numbers are a prefix of A-Z a-z 0-9 - _ and a zero-padded counter (DOMAIN.md 2.7), so a path
segment outside that alphabet names no document: it is a 404 before any view runs, and never
reaches a query (a NUL there is a DataError on PostgreSQL: "A string literal cannot contain NUL").
"""

from __future__ import annotations

import re

from django.urls import register_converter
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
