"""Every role may use the API (DOMAIN.md section 5, billing.roles): grant api.use_api."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = ["Billing operator", "Accounting reviewer", "Billing viewer", "Billing admin"]


def grant(apps, schema_editor):
    # Permissions are normally created after migrations (post_migrate); the groups need it now.
    app_config = apps.get_app_config("api")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    use_api = Permission.objects.get(content_type__app_label="api", codename="use_api")
    for group in Group.objects.filter(name__in=ROLES):
        group.permissions.add(use_api)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="api", codename="use_api").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("memos", "0002_reason_codes_and_roles"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
