"""The scratch database: created beside the configured one, migrated, measured, dropped.

The configured database is never written to, nor even connected to: CREATE and DROP DATABASE
run on a maintenance connection to the server's `postgres` database (autocommit, as they must),
and Django's default connection is pointed at the scratch database for the whole run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from psycopg import sql

SUFFIX = "_benchmark"
MAX_NAME = 63  # PostgreSQL's identifier limit


def scratch_name(configured: str) -> str:
    name = f"{configured}{SUFFIX}"
    if len(name) > MAX_NAME:
        raise CommandError(f"The scratch database name {name!r} is longer than {MAX_NAME}.")
    return name


def maintenance_connection() -> psycopg.Connection:
    """An autocommit connection to the server's `postgres` database, with the configured
    host, port, user, password and options."""
    db = connection.settings_dict
    params = {
        "dbname": "postgres",
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
    return psycopg.connect(
        **{k: v for k, v in params.items() if v is not None}, **options, autocommit=True
    )


def database_exists(name: str) -> bool:
    with maintenance_connection() as admin:
        return bool(
            admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        )


def use_database(name: str) -> None:
    """Point Django's default connection (and what spawned workers read) at `name`."""
    connections.close_all()
    connection.settings_dict["NAME"] = name
    settings.DATABASES["default"]["NAME"] = name


@contextlib.contextmanager
def scratch_database(*, keep: bool, log) -> Iterator[str]:
    """Create `<configured name>_benchmark`, migrate it and use it; drop it afterwards (also
    after a failure or Ctrl-C) unless `keep`. Refuses to reuse one that exists: a --keep run
    left it, or another benchmark is using it right now."""
    configured = connection.settings_dict["NAME"]
    name = scratch_name(configured)
    if database_exists(name):
        raise CommandError(
            f"Database {name} exists (left by a --keep run, or another benchmark is running "
            f"on it). Drop it first: dropdb {name}"
        )
    with maintenance_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        use_database(name)
        call_command("migrate", verbosity=0, interactive=False)
        yield name
    finally:
        use_database(configured)
        if keep:
            log(f"Kept the scratch database {name} (--keep).")
        else:
            with maintenance_connection() as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def server_facts() -> dict:
    """The server settings that shape the figures."""
    names = [
        "server_version",
        "shared_buffers",
        "work_mem",
        "effective_cache_size",
        "random_page_cost",
        "max_parallel_workers_per_gather",
        "synchronous_commit",
    ]
    with connection.cursor() as cursor:
        facts = {}
        for name in names:
            cursor.execute(f"SHOW {name}")
            facts[name] = cursor.fetchone()[0]
    return facts
