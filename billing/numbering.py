"""Gapless document numbers (DOMAIN.md 2.7): prefix + 8-digit zero-padded counter.

The counter row is locked (SELECT ... FOR UPDATE) inside the caller's transaction, so a number is
only consumed if the document that takes it commits, and two transactions never get the same
one; the documents' unique constraints are the backstop.
"""

from __future__ import annotations

from django.db import connection

from billing.models import NumberSeries

DIGITS = 8


def format_number(prefix: str, number: int) -> str:
    return f"{prefix}{number:0{DIGITS}d}"


def allocate_numbers(key: str, count: int = 1) -> list[str]:
    """Take the next `count` numbers of a series; call inside the creating transaction."""
    if count < 1:
        return []
    # One statement: the UPDATE locks the counter row until the caller's transaction ends (as
    # SELECT ... FOR UPDATE did) and RETURNING reads what it wrote, so no savepoint, no separate
    # read. (SQLite has RETURNING since 3.35.)
    table, last, key_column, prefix = map(
        connection.ops.quote_name,
        (NumberSeries._meta.db_table, "last_number", "key", "prefix"),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {last} = {last} + %s WHERE {key_column} = %s "
            f"RETURNING {prefix}, {last}",
            [count, key],
        )
        row = cursor.fetchone()
    if row is None:
        raise NumberSeries.DoesNotExist(f"No number series {key!r}")
    prefix, last = row
    first = last - count + 1
    return [format_number(prefix, n) for n in range(first, first + count)]


def allocate_series(counts: dict[str, int]) -> dict[str, list[str]]:
    """The next `counts[key]` numbers of each series, in one statement (a bill-run chunk takes
    its invoice and credit memo numbers together, last in its transaction); call inside the
    creating transaction. The counter rows are locked in key order, as allocate_numbers locks
    one at a time."""
    wanted = {key: count for key, count in sorted(counts.items()) if count >= 1}
    if not wanted:
        return {key: [] for key in counts}
    table, last, key_column, prefix = map(
        connection.ops.quote_name,
        (NumberSeries._meta.db_table, "last_number", "key", "prefix"),
    )
    cases = " ".join(f"WHEN %s THEN {last} + %s" for _ in wanted)
    keys = ", ".join(["%s"] * len(wanted))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {last} = CASE {key_column} {cases} END "
            f"WHERE {key_column} IN ({keys}) RETURNING {key_column}, {prefix}, {last}",
            [*(value for item in wanted.items() for value in item), *wanted],
        )
        rows = {key: (prefix, last) for key, prefix, last in cursor.fetchall()}
    numbers = {key: [] for key in counts}
    for key, count in wanted.items():
        if key not in rows:
            raise NumberSeries.DoesNotExist(f"No number series {key!r}")
        prefix, last = rows[key]
        numbers[key] = [format_number(prefix, n) for n in range(last - count + 1, last + 1)]
    return numbers


def next_number(key: str) -> str:
    return allocate_numbers(key, 1)[0]
