"""The authentication backend: Django's ModelBackend, with a user's roles and permissions read in
one query per request."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db.models import CharField, Value


class RoleBackend(ModelBackend):
    """ModelBackend, reading the user's roles (groups) and permissions in one query.

    ModelBackend reads a user's own permissions and their groups' in two queries, and the page
    header read the groups a third time for the role's name: three of a list page's queries.
    One UNION reads all of it (load_access); the user object, one per request, keeps it for
    the request, as ModelBackend keeps its permission caches. Superusers keep ModelBackend's
    path (every permission).
    """

    def get_all_permissions(self, user_obj, obj=None):
        if user_obj.is_active and not user_obj.is_anonymous and not user_obj.is_superuser:
            load_access(user_obj)
        return super().get_all_permissions(user_obj, obj)


def load_access(user) -> None:
    """Put the user's role names and permissions on the user object (once per object).

    Sets ModelBackend's own caches (`_user_perm_cache`, `_group_perm_cache`, `_perm_cache`: sets
    of "app_label.codename") and `_role_names`, the names of the user's groups.
    """
    if hasattr(user, "_role_names"):
        return
    # A group without permissions still names a role, hence the outer join from the groups.
    from_groups = (
        Group.objects.filter(user=user)
        .values_list("name", "permissions__content_type__app_label", "permissions__codename")
        .order_by()
    )
    own = (
        Permission.objects.filter(user=user)
        .values_list(Value("", output_field=CharField()), "content_type__app_label", "codename")
        .order_by()
    )
    roles, group_perms, user_perms = set(), set(), set()
    for role, app_label, codename in from_groups.union(own, all=True):
        if role:
            roles.add(role)
            if codename:
                group_perms.add(f"{app_label}.{codename}")
        else:
            user_perms.add(f"{app_label}.{codename}")
    user._role_names = sorted(roles)
    if not user.is_superuser:
        user._user_perm_cache = user_perms
        user._group_perm_cache = group_perms
        user._perm_cache = user_perms | group_perms


def role_names(user) -> list[str]:
    """The names of the user's roles (groups), sorted; read with the permissions, once."""
    load_access(user)
    return user._role_names
