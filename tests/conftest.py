"""Shared fixtures: users per role, and a client signed in as each."""

from __future__ import annotations

import pytest
from django.db import connection

from billing import roles
from billing.factories import UserFactory

pytest_plugins = ["tests.tax_engine_server", "tests.payment_gateway_server"]


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` mean nothing on SQLite (no row locks): skip them with the reason.

    Transactional tests (live_server, threads) end with a flush that empties every table,
    including the reference data the migrations seed (currencies, number series, roles); with
    serialized rollback each one starts from that data again, whatever ran before it.
    """
    from django.conf import settings

    for item in items:
        if is_transactional(item):
            marker = item.get_closest_marker("django_db")
            kwargs = {**(marker.kwargs if marker else {}), "transaction": True}
            kwargs["serialized_rollback"] = True
            item.add_marker(pytest.mark.django_db(**kwargs), append=False)

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL (row locks / real concurrency); set DATABASE_URL"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Serialized rollback reads the migrated data from `connections["default"]`; once Playwright's
    sync API runs an event loop in this thread, asgiref hands out another connection object
    (context storage instead of thread storage) without it, and the rollback silently loads
    nothing. Kept on the connection class, every connection object of the test run has it."""
    from django.db import connections

    connection_ = connections["default"]
    contents = getattr(connection_, "_test_serialized_contents", None)
    if contents is not None:
        type(connection_)._test_serialized_contents = contents


def is_transactional(item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    if "live_server" in fixtures or "transactional_db" in fixtures:
        return True
    marker = item.get_closest_marker("django_db")
    return bool(marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))


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
def approver(db):
    return UserFactory(username="approver", roles=[roles.BILLING_APPROVER])


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
