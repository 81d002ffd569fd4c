"""Writes of many rows in one statement (for services that move amounts on many items at once).

`add_to_columns` adds an amount per row to one or more columns:

    WITH v (id, d0, d1) AS (VALUES (1, 2.50, 0), (2, 0, -1.00), ...)
    UPDATE <table> SET <a> = <a> + v.d0, <b> = <b> + v.d1 FROM v WHERE <table>.<pk> = v.id

Relative (column = column + delta, rounded to the column's places), as the one-row F() updates
it replaces were: what a row holds is never overwritten with a value read earlier. PostgreSQL
and SQLite (3.33+) both run it; the values are cast, so PostgreSQL types them exactly (numeric,
bigint).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django.db import connection


def add_to_columns(model, changes: Mapping[int, Mapping[str, Decimal]]) -> None:
    """Add `changes[pk][column]` to each listed row's columns, in one UPDATE (or one per
    batch of rows where the database caps the parameters of a statement)."""
    if not changes:
        return
    columns = sorted({column for deltas in changes.values() for column in deltas})
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    pk = quote(model._meta.pk.column)
    model_fields = [model._meta.get_field(name) for name in columns]
    names = ", ".join(f"d{n}" for n in range(len(columns)))
    row = "(CAST(%s AS BIGINT), " + ", ".join(["CAST(%s AS NUMERIC)"] * len(columns)) + ")"
    # Rounded to the column's places: SQLite adds binary floats (10.01 - 10.00 is
    # 0.00999999999999979 there), and a residue below zero would trip the columns' checks.
    # A no-op on PostgreSQL's exact numeric.
    sets = ", ".join(
        f"{quote(field.column)} = ROUND({quote(field.column)} + v.d{n}, {field.decimal_places})"
        for n, field in enumerate(model_fields)
    )
    rows = [
        [row_pk, *(deltas.get(column, Decimal(0)) for column in columns)]
        for row_pk, deltas in sorted(changes.items())  # in id order, as rows are locked
    ]
    limit = connection.features.max_query_params
    per_statement = max(limit // (len(columns) + 1), 1) if limit else len(rows)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            cursor.execute(
                f"WITH v (id, {names}) AS (VALUES {', '.join([row] * len(batch))}) "
                f"UPDATE {table} SET {sets} FROM v WHERE {table}.{pk} = v.id",
                [value for values in batch for value in values],
            )
