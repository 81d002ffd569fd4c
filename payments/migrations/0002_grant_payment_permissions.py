"""DOMAIN.md section 5: every role may view payments and payment runs; the Billing operator and
the Billing admin may record, apply, unapply and cancel payments and run payment runs."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = ["Billing operator", "Accounting reviewer", "Billing viewer", "Billing admin"]
MANAGE = ["Billing operator", "Billing admin"]


def grant(apps, schema_editor):
    # Permissions are normally created after migrations (post_migrate); the groups need them now.
    app_config = apps.get_app_config("payments")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="payments")
    view = perms.get(codename="view_payments")
    manage = perms.get(codename="manage_payments")
    for group in Group.objects.filter(name__in=VIEW):
        group.permissions.add(view)
        if group.name in MANAGE:
            group.permissions.add(manage)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(
        content_type__app_label="payments", codename__in=["view_payments", "manage_payments"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0001_initial"),
        ("memos", "0002_reason_codes_and_roles"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
