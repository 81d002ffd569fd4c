"""billing.auth.PermissionBackend: ModelBackend's answers, from one query instead of two."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import roles
from billing.auth import PermissionBackend
from billing.factories import UserFactory

pytestmark = pytest.mark.django_db


def fresh(user):
    """The user as the next request loads it: no permission cache."""
    return get_user_model().objects.get(pk=user.pk)


def permission(codename: str) -> Permission:
    return Permission.objects.get(codename=codename)


@pytest.fixture
def users():
    group = Group.objects.create(name="Only groups")
    group.permissions.add(permission("view_memo"))
    direct = UserFactory(username="direct")
    direct.user_permissions.add(permission("settle_credit_memo"))
    both = UserFactory(username="both")
    both.user_permissions.add(permission("view_memo"), permission("view_invoice"))
    both.groups.add(group)
    via_group = UserFactory(username="via-group")
    via_group.groups.add(group)
    return [
        direct,
        both,
        via_group,
        UserFactory(username="operator", roles=[roles.BILLING_OPERATOR]),
        UserFactory(username="admin-role", roles=[roles.BILLING_ADMIN]),
        UserFactory(username="nothing"),
        UserFactory(username="inactive", is_active=False, roles=[roles.BILLING_ADMIN]),
        UserFactory(username="super", is_superuser=True),
    ]


def test_the_same_permissions_as_model_backend(users):
    for user in users:
        assert PermissionBackend().get_all_permissions(fresh(user)) == (
            ModelBackend().get_all_permissions(fresh(user))
        ), user.username
    assert PermissionBackend().get_all_permissions(AnonymousUser()) == set()


def test_the_same_answers_to_has_perm(users):
    codenames = ["memos.view_memo", "memos.settle_credit_memo", "billing.view_invoice"]
    for user in users:
        for perm in codenames:
            assert PermissionBackend().has_perm(fresh(user), perm) == ModelBackend().has_perm(
                fresh(user), perm
            ), (user.username, perm)


def test_one_query_per_request(users):
    operator = fresh(users[3])
    with CaptureQueriesContext(connection) as queries:
        assert operator.has_perm("memos.create_memo_from_invoice")
        assert not operator.has_perm("memos.reverse_credit_memo")
        assert operator.has_perms(["memos.view_memo", "memos.settle_credit_memo"])
    assert len(queries) == 1
