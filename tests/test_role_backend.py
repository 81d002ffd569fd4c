"""billing.backends.RoleBackend: what Django's ModelBackend answers, in one query per request,
with the roles' names from the same query for the page header."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import roles
from billing.backends import RoleBackend, role_names
from billing.factories import UserFactory

pytestmark = pytest.mark.django_db


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def mixed_user():
    """Two roles, a permission of their own, and a group with no permission at all."""
    user = UserFactory(roles=[roles.ACCOUNTING_REVIEWER, roles.BILLING_VIEWER])
    user.user_permissions.add(Permission.objects.get(codename="delete_memo"))
    user.groups.add(Group.objects.create(name="Auditors (no permissions yet)"))
    return user


@pytest.mark.parametrize("what", ["all", "user", "group"])
def test_permissions_are_model_backends(mixed_user, what):
    method = {"all": "get_all_permissions", "user": "get_user_permissions"}.get(
        what, "get_group_permissions"
    )
    theirs = getattr(ModelBackend(), method)(fresh(mixed_user))
    ours = getattr(RoleBackend(), method)(fresh(mixed_user))
    assert ours == theirs
    assert ours


def test_roles_and_permissions_cost_one_query(mixed_user):
    user = fresh(mixed_user)
    with CaptureQueriesContext(connection) as captured:
        assert user.has_perm("memos.delete_memo")
        assert user.has_perm("memos.change_transferred_to_accounting")
        assert not user.has_perm("memos.process_memo")
        names = role_names(user)
    assert len(captured) == 1
    assert names == sorted(
        ["Accounting reviewer", "Billing viewer", "Auditors (no permissions yet)"]
    )


def test_names_first_then_permissions_is_one_query_too(mixed_user):
    user = fresh(mixed_user)
    with CaptureQueriesContext(connection) as captured:
        role_names(user)
        user.has_perm("memos.view_memo")
    assert len(captured) == 1


def test_an_inactive_user_has_no_permission(mixed_user):
    mixed_user.is_active = False
    mixed_user.save()
    assert RoleBackend().get_all_permissions(fresh(mixed_user)) == set()
    assert not fresh(mixed_user).has_perm("memos.view_memo")


def test_a_superuser_has_every_permission(superuser):
    assert RoleBackend().get_all_permissions(
        fresh(superuser)
    ) == ModelBackend().get_all_permissions(fresh(superuser))


def test_the_header_names_the_role(client, reviewer, no_role_user):
    client.force_login(reviewer)
    assert "· Accounting reviewer" in client.get("/").content.decode()
    client.force_login(no_role_user)
    assert "· No role" in client.get("/").content.decode()
