"""Every operation of the schema, as one table: anonymous and a revoked token get 401, a user
without a role 403, and none of them changes anything; each operation names its permission in
api.permissions.ACTION_PERMISSIONS (a missing one would be a 500 here)."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.api.conftest import token_client
from tests.api.test_billing_writes_api import state
from tests.api.test_memos_api import assert_errors

pytestmark = pytest.mark.django_db


def operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, item in schema["paths"].items():
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                found.append((method, re.sub(r"\{[^}]+\}", "1", path)))
    return found


def test_the_schema_has_every_operation():
    # 38 of issue 12; submit, approve, reject and the credit insight (issue 15); payments (6)
    # and payment runs (4) (issue 13); an account's payment methods (4) and Auto-Pay (1); the
    # customer documents' 4 per invoice and memo (pdf, email, emails, retry) (issue 14).
    assert len(operations()) == 65


@pytest.mark.parametrize("who", ["anonymous", "revoked", "no role"])
def test_every_operation_refuses_who_may_not_use_it(request, revoked_client, who):
    client = {
        "anonymous": lambda: APIClient(),
        "revoked": lambda: revoked_client,
        "no role": lambda: token_client(request.getfixturevalue("no_role_user")),
    }[who]()
    status = 403 if who == "no role" else 401
    before = state()
    for method, path in operations():
        response = getattr(client, method)(path, {}, format="json")
        assert_errors(response, status, "__all__")
    assert state() == before
