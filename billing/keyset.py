"""Keyset pagination on (sort key, id): constant cost at any depth, no OFFSET, no exact COUNT(*).

A cursor is the (sort value, id) of the last row shown, encoded for the URL. "Older"/next pages
continue after it in the list's order; "Newer"/previous pages read backwards before it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import Q, QuerySet


@dataclass
class Page:
    rows: list[Any]
    next_cursor: str | None = None
    previous_cursor: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def has_other_pages(self) -> bool:
        return bool(self.next_cursor or self.previous_cursor)


class InvalidCursor(ValueError):
    pass


def encode_cursor(value: Any, pk: int) -> str:
    raw = json.dumps([str(value), pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_no_nul = ProhibitNullCharactersValidator()
MAX_PK = 2**63 - 1  # a bigint; a bigger number would overflow the database driver


def decode_cursor(cursor: str, sort_field) -> tuple[Any, int]:
    # A cursor comes from the URL, so anything a person can type must end here as InvalidCursor,
    # never as a query error (None, out-of-range ids, numbers wider than the column).
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value = sort_field.to_python(value)
        if value is None or isinstance(pk, bool):
            raise ValueError("empty cursor value")
        if isinstance(value, str):
            # No text column holds a NUL, and PostgreSQL refuses one in a query.
            _no_nul(value)
        sort_field.run_validators(value)
        pk = int(pk)
        if not 0 < pk <= MAX_PK:
            raise ValueError("cursor id out of range")
        return value, pk
    except (binascii.Error, ValueError, TypeError, OverflowError, ValidationError) as exc:
        raise InvalidCursor("This page link is no longer valid.") from exc


def paginate(
    queryset: QuerySet,
    *,
    sort: str,
    descending: bool,
    page_size: int,
    after: str | None = None,
    before: str | None = None,
) -> Page:
    """One page of `queryset` ordered by (sort, id), in `descending` or ascending order."""
    model_field = queryset.model._meta.get_field(sort)
    forward = before is None
    cursor = after if forward else before
    # Reading backwards means walking the opposite order, then flipping the rows.
    walk_descending = descending if forward else not descending
    op = "lt" if walk_descending else "gt"
    prefix = "-" if walk_descending else ""
    qs = queryset.order_by(f"{prefix}{sort}", f"{prefix}id")
    if cursor:
        value, pk = decode_cursor(cursor, model_field)
        qs = qs.filter(Q(**{f"{sort}__{op}": value}) | Q(**{sort: value, f"id__{op}": pk}))
    rows = list(qs[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    if not forward:
        rows.reverse()
    page = Page(rows=rows)
    if rows:
        first, last = rows[0], rows[-1]
        if forward:
            page.next_cursor = encode_cursor(getattr(last, sort), last.pk) if more else None
            page.previous_cursor = encode_cursor(getattr(first, sort), first.pk) if cursor else None
        else:
            page.next_cursor = encode_cursor(getattr(last, sort), last.pk)
            page.previous_cursor = encode_cursor(getattr(first, sort), first.pk) if more else None
    return page


def approximate_count(queryset: QuerySet, limit: int) -> tuple[int, bool]:
    """(count, capped): counts at most limit+1 rows, so a huge table costs no more than a page."""
    count = queryset.order_by().values("pk")[: limit + 1].count()
    return min(count, limit), count > limit
