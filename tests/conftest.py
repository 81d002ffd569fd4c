"""Shared fixtures: users per role, and a client signed in as each."""

from __future__ import annotations

import pytest
from django.db import connection

from billing import roles
from billing.factories import UserFactory


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` mean nothing on SQLite (no row locks): skip them with the reason."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL (row locks / real concurrency); set DATABASE_URL"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def operator(db):
    return UserFactory(username="operator", roles=[roles.BILLING_OPERATOR])


@pytest.fixture
def reviewer(db):
    return UserFactory(username="reviewer", roles=[roles.ACCOUNTING_REVIEWER])


@pytest.fixture
def viewer(db):
    return UserFactory(username="viewer", roles=[roles.BILLING_VIEWER])


@pytest.fixture
def billing_admin(db):
    return UserFactory(username="billingadmin", roles=[roles.BILLING_ADMIN])


@pytest.fixture
def no_role_user(db):
    return UserFactory(username="norole")


@pytest.fixture
def superuser(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client
