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
from django.db.backends.utils import CursorDebugWrapper
from django.utils import timezone


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


# --- Inserting many rows --------------------------------------------------------------------------
# A bill-run chunk writes thousands of rows. Building a model instance per row and letting
# bulk_create prepare every value took most of a chunk's time; these take plain tuples. On
# PostgreSQL the rows go in with COPY (psycopg's write_row adapts them in C); elsewhere with
# executemany of one INSERT. Given values are passed as they are (Decimal, date, str, int,
# None; JSON fields are prepared), so callers pass plain values (a TextChoices member's .value).


def reserve_ids(*wanted: tuple[type, int]) -> list[list[int]]:
    """Primary keys for rows the caller inserts with insert_rows: for each (model, count), a
    list of `count` ids, so that rows pointing at them can be built (and inserted first:
    Django's foreign keys are checked at commit). One statement on PostgreSQL (the tables'
    identity sequences). Call inside the inserting transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("reserve_ids needs the transaction that inserts the rows")
    quote = connection.ops.quote_name
    reserved = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(
                "ARRAY(SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s))"
                for _ in wanted
            )
            params = []
            for model, count in wanted:
                params += [quote(model._meta.db_table), model._meta.pk.column, count]
            cursor.execute(f"SELECT {arrays}", params)
            return [sorted(ids) for ids in cursor.fetchone()]
        # SQLite gives a new row max(id) + 1; its transactions here are IMMEDIATE (settings.py),
        # so no other writer can take these ids before this one commits.
        for model, count in wanted:
            table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
            cursor.execute(f"SELECT COALESCE(MAX({pk}), 0) FROM {table}")
            last = cursor.fetchone()[0]
            reserved.append(list(range(last + 1, last + count + 1)))
    return reserved


def _stored_fields(model):
    return [f for f in model._meta.concrete_fields if not f.generated]


def insert_rows(model, fields: list[str], rows) -> int:
    """Insert `rows` (tuples of the values of `fields`, attnames such as "invoice_id") into
    `model`'s table; every other stored field gets its default, as a new instance would (an
    auto_now(_add) field: now). The primary key is given or left to the database. Returns the
    number of rows."""
    rows = list(rows)
    if not rows:
        return 0
    meta = model._meta
    by_attname = {f.attname: f for f in _stored_fields(model)}
    given = [by_attname[name] for name in fields]
    now = timezone.now()
    defaults = []
    for field in by_attname.values():
        if field.attname in fields or field.primary_key:
            continue
        automatic = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        value = now if automatic else field.get_default()
        defaults.append((field, field.get_db_prep_save(value, connection)))
    columns = [*given, *(field for field, _ in defaults)]
    constants = tuple(value for _, value in defaults)
    prepare = [
        (n, field) for n, field in enumerate(given) if field.get_internal_type() == "JSONField"
    ]
    if prepare:
        rows = [_prepared(row, prepare) for row in rows]
    quote = connection.ops.quote_name
    names = ", ".join(quote(field.column) for field in columns)
    table = quote(meta.db_table)
    if connection.vendor == "postgresql":
        _copy(f"COPY {table} ({names}) FROM STDIN", rows, constants)
    else:
        placeholders = ", ".join(["%s"] * len(columns))
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({placeholders})",
                [(*row, *constants) for row in rows],
            )
    return len(rows)


def _prepared(row, prepare) -> tuple:
    row = list(row)
    for n, field in prepare:
        row[n] = field.get_db_prep_save(row[n], connection)
    return tuple(row)


def _copy(sql: str, rows, constants: tuple) -> None:
    """COPY ... FROM STDIN through Django's cursor wrapper: its execute wrappers (statement
    counters, fault injection) and its query log see the COPY as one statement."""

    def execute(sql, params, many, context):
        # As Django's own execute: psycopg's errors become Django's (IntegrityError, ...).
        with connection.wrap_database_errors, context["cursor"].cursor.copy(sql) as copy:
            write = copy.write_row
            if constants:
                for row in rows:
                    write((*row, *constants))
            else:
                for row in rows:
                    write(row)

    with connection.cursor() as cursor:
        if isinstance(cursor, CursorDebugWrapper):
            with cursor.debug_sql(sql):
                cursor._execute_with_wrappers(sql, None, False, execute)
        else:
            cursor._execute_with_wrappers(sql, None, False, execute)


def update_from_rows(
    model, key: str, fields: list[str], rows, *, compare: tuple[str, ...] = (), where: str = ""
) -> None:
    """UPDATE `model` SET each of `fields` to the row's value where its `key` column equals the
    row's first value. `rows` are tuples (key value, *values of fields, *values of compare):
    `compare` names fields whose values only the `where` condition uses, as v.c0, v.c1, ...
    (the table's columns are t.<column>). One statement on PostgreSQL (arrays unnested);
    batches of VALUES elsewhere."""
    rows = list(rows)
    if not rows:
        return
    quote = connection.ops.quote_name
    meta = model._meta
    table = quote(meta.db_table)
    key_field = meta.get_field(key)
    value_fields = [meta.get_field(name) for name in fields]
    compare_fields = [meta.get_field(name) for name in compare]
    names = ["k", *(f"v{n}" for n in range(len(fields))), *(f"c{n}" for n in range(len(compare)))]
    sets = ", ".join(f"{quote(f.column)} = v.v{n}" for n, f in enumerate(value_fields))
    condition = f"t.{quote(key_field.column)} = v.k" + (f" AND ({where})" if where else "")
    statement = f"UPDATE {table} AS t SET {sets} FROM v WHERE {condition}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            fields_in_order = (key_field, *value_fields, *compare_fields)
            unnest = ", ".join(f"CAST(%s AS {_array_type(f)})" for f in fields_in_order)
            cursor.execute(
                f"WITH v ({', '.join(names)}) AS (SELECT * FROM unnest({unnest})) {statement}",
                [list(column) for column in zip(*rows, strict=True)],
            )
            return
        row_sql = "(" + ", ".join(["%s"] * len(names)) + ")"
        limit = connection.features.max_query_params or len(rows) * len(names)
        per_statement = max(limit // len(names), 1)
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            cursor.execute(
                f"WITH v ({', '.join(names)}) AS (VALUES {', '.join([row_sql] * len(batch))}) "
                f"{statement}",
                [value for row in batch for value in row],
            )


def _array_type(field) -> str:
    return f"{field.db_type(connection)}[]"  # a foreign key's is its target's: bigint
