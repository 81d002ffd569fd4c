"""Keyset pagination on (sort key, id): constant cost at any depth, no OFFSET, no exact COUNT(*).

A cursor is the (sort values, id) of the last row shown, encoded for the URL. "Older"/next pages
continue after it in the list's order; "Newer"/previous pages read backwards before it.

A sort key is one column or several (the amount sorts are (currency, amount): amounts of
different currencies never interleave). Every column of the key and the id walk in the same
direction, so "after the cursor" is one row-value comparison, `(memo_date, id) < (X, Y)`, which
PostgreSQL uses as an index condition on an index over exactly those columns; the equivalent
`memo_date < X OR (memo_date = X AND id < Y)` is only a filter, so a page 90% deep would read 90%
of the index first.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import BooleanField, Expression, F, IntegerField, QuerySet, Subquery, Value


@dataclass
class Page:
    rows: list[Any]
    next_cursor: str | None = None
    previous_cursor: str | None = None
    extra: dict = field(default_factory=dict)
    # The rows the filters match, counted up to a cap (see CappedCount); None when not counted.
    total: int | None = None
    total_capped: bool = False

    @property
    def has_other_pages(self) -> bool:
        return bool(self.next_cursor or self.previous_cursor)


class InvalidCursor(ValueError):
    pass


class RowCompare(Expression):
    """The SQL row-value comparison `(a, b, ...) < (x, y, ...)` as a filter expression.

    True when the left row sorts before (`<`) or after (`>`) the right one, column by column, as
    ORDER BY a, b, ... would put them. Django 5.2 has no public expression for it (its
    tuple lookups are internal to composite primary keys), hence this one. Both databases take
    the syntax: PostgreSQL since always, SQLite since 3.15. Each side is a list of expressions
    (F() for columns, Value(..., output_field=...) for the cursor's values, so every value is
    adapted to its column as a normal filter would, dates and decimals included).
    """

    output_field = BooleanField()
    conditional = True  # usable on its own in .filter()
    OPERATORS = {"<", ">"}

    def __init__(self, lhs: Sequence, op: str, rhs: Sequence):
        if op not in self.OPERATORS:
            raise ValueError(f"RowCompare takes < or >, not {op!r}")
        if not lhs or len(lhs) != len(rhs):
            raise ValueError("RowCompare needs two rows of the same, non-zero length")
        super().__init__()
        self.lhs, self.op, self.rhs = list(lhs), op, list(rhs)

    def get_source_expressions(self):
        return [*self.lhs, *self.rhs]

    def set_source_expressions(self, exprs):
        width = len(exprs) // 2
        self.lhs, self.rhs = list(exprs[:width]), list(exprs[width:])

    def as_sql(self, compiler, connection):
        params: list = []
        sides = []
        for side in (self.lhs, self.rhs):
            parts = []
            for expression in side:
                sql, part_params = compiler.compile(expression)
                parts.append(sql)
                params.extend(part_params)
            sides.append(f"({', '.join(parts)})")
        return f"{sides[0]} {self.op} {sides[1]}", params


class CappedCount(Subquery):
    """`(SELECT COUNT(*) FROM (<queryset> LIMIT cap))`: how many rows match, counted to a cap.

    It rides along in the page's own SELECT as one more column: an uncorrelated subquery, which
    both databases evaluate once per statement, so the page and its total cost one round trip.
    Counting at most `cap` rows keeps it about as cheap as reading a page, however many match.
    """

    template = "(SELECT COUNT(*) FROM (%(subquery)s) AS capped_count)"
    output_field = IntegerField()

    def __init__(self, queryset: QuerySet, cap: int):
        super().__init__(queryset.order_by().values("pk")[:cap])


TOTAL = "keyset_capped_total"


def encode_cursor(value: Any, pk: int) -> str:
    """A cursor for `value` (one sort column's value, or a tuple of them) and the row's id."""
    values = list(value) if isinstance(value, tuple) else [value]
    raw = json.dumps([*(str(v) for v in values), pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_no_nul = ProhibitNullCharactersValidator()
MAX_PK = 2**63 - 1  # a bigint; a bigger number would overflow the database driver


def decode_cursor(cursor: str, sort_field) -> tuple[Any, int]:
    """(value, id) for a one-column sort key; (tuple of values, id) when `sort_field` is a
    sequence of fields."""
    # A cursor comes from the URL, so anything a person can type must end here as InvalidCursor,
    # never as a query error (None, out-of-range ids, numbers wider than the column, a cursor of
    # another sort with more or fewer values).
    fields = list(sort_field) if isinstance(sort_field, list | tuple) else [sort_field]
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(decoded, list) or len(decoded) != len(fields) + 1:
            raise ValueError("not a cursor of this sort")
        *raw_values, pk = decoded
        values = []
        for model_field, raw in zip(fields, raw_values, strict=True):
            value = model_field.to_python(raw)
            if value is None or isinstance(raw, bool):
                raise ValueError("empty cursor value")
            if isinstance(value, str):
                # No text column holds a NUL, and PostgreSQL refuses one in a query.
                _no_nul(value)
            model_field.run_validators(value)
            values.append(value)
        if isinstance(pk, bool):
            raise ValueError("not an id")
        pk = int(pk)
        if not 0 < pk <= MAX_PK:
            raise ValueError("cursor id out of range")
        return (tuple(values) if isinstance(sort_field, list | tuple) else values[0]), pk
    except (binascii.Error, ValueError, TypeError, OverflowError, ValidationError) as exc:
        raise InvalidCursor("This page link is no longer valid.") from exc


def sort_columns(model, sort: str | Sequence[str]) -> list[str]:
    """The columns of a sort key: ForeignKeys by their column (ordering by the relation would
    follow the related model's ordering, through a join)."""
    names = [sort] if isinstance(sort, str) else list(sort)
    return [model._meta.get_field(name).attname for name in names]


def ordering(model, sort: str | Sequence[str], descending: bool) -> list[str]:
    """order_by() arguments for the sort key then id, all in one direction."""
    prefix = "-" if descending else ""
    return [f"{prefix}{column}" for column in [*sort_columns(model, sort), "id"]]


def paginate(
    queryset: QuerySet,
    *,
    sort: str | Sequence[str],
    descending: bool,
    page_size: int,
    after: str | None = None,
    before: str | None = None,
    count_cap: int | None = None,
) -> Page:
    """One page of `queryset` ordered by (sort..., id), in `descending` or ascending order.

    With `count_cap`, the page also says how many rows the queryset holds, up to `count_cap`
    (`total`, and `total_capped` when there are more), counted in the page's own query.
    """
    names = [sort] if isinstance(sort, str) else list(sort)
    fields = [queryset.model._meta.get_field(name) for name in names]
    columns = sort_columns(queryset.model, names)
    forward = before is None
    cursor = after if forward else before
    # Reading backwards means walking the opposite order, then flipping the rows.
    walk_descending = descending if forward else not descending
    qs = queryset.order_by(*ordering(queryset.model, names, walk_descending))
    if count_cap is not None:
        qs = qs.annotate(**{TOTAL: CappedCount(queryset, count_cap + 1)})
    if cursor:
        values, pk = decode_cursor(cursor, fields)
        qs = qs.filter(
            RowCompare(
                [F(column) for column in [*columns, "id"]],
                "<" if walk_descending else ">",
                [
                    *(
                        Value(value, output_field=getattr(f, "target_field", None) or f)
                        for f, value in zip(fields, values, strict=True)
                    ),
                    Value(pk, output_field=queryset.model._meta.pk),
                ],
            )
        )
    rows = list(qs[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    if not forward:
        rows.reverse()
    page = Page(rows=rows)

    def key(row) -> tuple:
        return tuple(getattr(row, column) for column in columns)

    if rows:
        first, last = rows[0], rows[-1]
        if forward:
            page.next_cursor = encode_cursor(key(last), last.pk) if more else None
            page.previous_cursor = encode_cursor(key(first), first.pk) if cursor else None
        else:
            page.next_cursor = encode_cursor(key(last), last.pk)
            page.previous_cursor = encode_cursor(key(first), first.pk) if more else None
    if count_cap is not None:
        if rows:
            counted = getattr(rows[0], TOTAL)
            page.total, page.total_capped = min(counted, count_cap), counted > count_cap
        elif not cursor:
            page.total = 0  # the first page is empty: nothing matches
        else:
            # A page past either end (a stale link) has no row to carry the count: ask once.
            page.total, page.total_capped = approximate_count(queryset, count_cap)
    return page


def approximate_count(queryset: QuerySet, limit: int) -> tuple[int, bool]:
    """(count, capped): counts at most limit+1 rows, so a huge table costs no more than a page."""
    count = queryset.order_by().values("pk")[: limit + 1].count()
    return min(count, limit), count > limit
