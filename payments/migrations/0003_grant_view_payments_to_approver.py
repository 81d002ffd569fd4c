"""The Billing approver (DOMAIN.md 8, memos 0012) sees what every role sees, payments included
(DOMAIN.md 5): payments 0002 granted the four roles that existed when it was written."""

from django.db import migrations


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.get(content_type__app_label="payments", codename="view_payments")
    for group in Group.objects.filter(name="Billing approver"):
        group.permissions.add(view)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(
        content_type__app_label="payments", codename="view_payments"
    ).first()
    if view is not None:
        for group in Group.objects.filter(name="Billing approver"):
            group.permissions.remove(view)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_grant_payment_permissions"),
        ("memos", "0012_approvals"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
