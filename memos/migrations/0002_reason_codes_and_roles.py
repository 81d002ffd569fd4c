"""Seed the reason codes of DOMAIN.md 2.8 and the four roles of section 5 (billing.roles)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

REASON_CODES = {
    "credit_memo": [
        "Correcting Invoice Error",
        "Ad hoc Credit",
        "Charge Dispute",
        "Invoice Reversal",
        "Negative Periodic Charges",
        "Service Unavailable",
        "Unsatisfactory Service",
        "Write-off",
    ],
    "debit_memo": [
        "Correcting Invoice Error",
        "Ad hoc Debit",
        "Charge Dispute",
        "Credit memo reversal",
        "Write-off",
    ],
    "refund": ["Standard Refund", "Account Closure", "Customer Request", "Other"],
}


def seed_reason_codes(apps, schema_editor):
    ReasonCode = apps.get_model("memos", "ReasonCode")
    for code_type, names in REASON_CODES.items():
        for index, name in enumerate(names):
            # The first listed code of each type is its default.
            ReasonCode.objects.get_or_create(
                code_type=code_type, name=name, defaults={"is_default": index == 0}
            )


GRANTED_LATER = {"api.use_api", "memos.approve_memo"}


def create_roles(apps, schema_editor):
    from billing.roles import ROLE_PERMISSIONS

    # Permissions are normally created after migrations (post_migrate); the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, permission_names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = []
        for name in permission_names:
            app_label, codename = name.split(".")
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is None and (name in GRANTED_LATER or app_label == "payments"):
                # Permissions that later migrations add and grant (api 0002, memos 0012,
                # payments 0002): the model state here does not have them yet.
                continue
            if permission is None:
                raise LookupError(name)
            permissions.append(permission)
        group.permissions.set(permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("memos", "0001_initial"),
        ("billing", "0002_reference_data"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [
        migrations.RunPython(seed_reason_codes, migrations.RunPython.noop),
        migrations.RunPython(create_roles, migrations.RunPython.noop),
    ]
