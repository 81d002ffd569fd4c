"""Accounts, subscriptions and usage fed through the API (billing.roles): the Billing admin may
add and change accounts and subscriptions, the Billing operator and the Billing admin may add
usage records."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Billing admin": [
        "add_account",
        "change_account",
        "add_subscription",
        "change_subscription",
        "add_usagerecord",
    ],
    "Billing operator": ["add_usagerecord"],
}


def grant(apps, schema_editor):
    # Permissions are normally created after migrations (post_migrate); the groups need them now.
    app_config = apps.get_app_config("billing")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group is None:
            continue
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="billing", codename__in=codenames)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(
                    content_type__app_label="billing", codename__in=codenames
                )
            )


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0002_grant_use_api"),
        ("billing", "0008_merge_account_search_indexes_and_tax_engine_url"),
        ("memos", "0002_reason_codes_and_roles"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
