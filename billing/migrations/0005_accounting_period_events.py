"""Accounting period history, and on PostgreSQL a database guarantee that periods never overlap.

The overlap rule (DOMAIN.md 1) is checked by billing.period_services, but a check-then-insert
alone lets two concurrent creates both pass on PostgreSQL. An exclusion constraint on the
inclusive date range makes the database refuse the second one (it waits for the first to commit,
then fails), and refuses writes that skip the service too. It needs no extension: `&&` on a
daterange has its own GiST operator class (btree_gist is only needed to mix in `=` on a scalar
column). It is added by RunPython on PostgreSQL only, outside Django's model state, because
SQLite has no exclusion constraints; there, IMMEDIATE transactions (billing/settings.py) make
writers take turns, so the service's check under its transaction is enough.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

OVERLAP_CONSTRAINT = "accounting_period_no_overlap"


def add_overlap_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        # Say which periods overlap, instead of the constraint's bare failure.
        cursor.execute(
            "SELECT a.name, b.name FROM billing_accountingperiod a "
            "JOIN billing_accountingperiod b ON a.id < b.id "
            "AND a.start_date <= b.end_date AND b.start_date <= a.end_date"
        )
        pairs = cursor.fetchall()
    if pairs:
        listed = "; ".join(f"{a} and {b}" for a, b in pairs)
        raise RuntimeError(
            f"Accounting periods overlap ({listed}): change their dates so that none overlap, "
            "then migrate again."
        )
    schema_editor.execute(
        f"ALTER TABLE billing_accountingperiod ADD CONSTRAINT {OVERLAP_CONSTRAINT} "
        "EXCLUDE USING gist (daterange(start_date, end_date, '[]') WITH &&)"
    )


def drop_overlap_constraint(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE billing_accountingperiod DROP CONSTRAINT IF EXISTS {OVERLAP_CONSTRAINT}"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0004_bill_run_generation_rule'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AccountingPeriodEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('period_name', models.CharField(max_length=64, verbose_name='Period')),
                ('kind', models.CharField(choices=[('created', 'Created'), ('updated', 'Changed'), ('closed', 'Closed'), ('reopened', 'Reopened'), ('deleted', 'Deleted')], max_length=16)),
                ('at', models.DateTimeField(auto_now_add=True)),
                ('reason', models.TextField(blank=True)),
                ('before', models.JSONField(blank=True, default=dict)),
                ('after', models.JSONField(blank=True, default=dict)),
            ],
            options={
                'ordering': ['at', 'id'],
            },
        ),
        migrations.AlterConstraint(
            model_name='accountingperiod',
            name='accounting_period_end_after_start',
            constraint=models.CheckConstraint(condition=models.Q(('end_date__gte', models.F('start_date'))), name='accounting_period_end_after_start', violation_error_message='The end date cannot be before the start date.'),
        ),
        migrations.AddField(
            model_name='accountingperiodevent',
            name='actor',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='accountingperiodevent',
            name='period',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='events', to='billing.accountingperiod'),
        ),
        migrations.AddConstraint(
            model_name='accountingperiodevent',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('kind__in', ['closed', 'reopened']), _negated=True), models.Q(('reason', ''), _negated=True), _connector='OR'), name='accounting_period_event_close_reopen_has_reason', violation_error_message='Closing or reopening a period needs a reason.'),
        ),
        migrations.RunPython(add_overlap_constraint, drop_overlap_constraint),
    ]
