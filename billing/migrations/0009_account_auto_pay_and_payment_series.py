

"""Payments (DOMAIN.md 6): the account's Auto-Pay flag, its unapplied payments (kept by the
payments app's services, subtracted from the balance), and the P- and PR- number series."""

from django.db import migrations, models

SERIES = [("payment", "P-"), ("payment_run", "PR-")]


def seed_series(apps, schema_editor):
    NumberSeries = apps.get_model("billing", "NumberSeries")
    for key, prefix in SERIES:
        NumberSeries.objects.get_or_create(key=key, defaults={"prefix": prefix})


def remove_series(apps, schema_editor):
    NumberSeries = apps.get_model("billing", "NumberSeries")
    NumberSeries.objects.filter(key__in=[key for key, _ in SERIES]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0008_merge_account_search_indexes_and_tax_engine_url'),
    ]

    operations = [
        migrations.AddField(
            model_name='account',
            name='auto_pay',
            field=models.BooleanField(default=False, help_text="Payment runs collect this account's invoices from its default payment method.", verbose_name='Auto-Pay'),
        ),
        migrations.AddField(
            model_name='account',
            name='unapplied_payment_amount',
            field=models.DecimalField(decimal_places=3, default=0, editable=False, max_digits=18, verbose_name='Unapplied payments'),
        ),
        migrations.AlterField(
            model_name='numberseries',
            name='key',
            field=models.CharField(choices=[('invoice', 'Invoice'), ('credit_memo', 'Credit memo'), ('debit_memo', 'Debit memo'), ('bill_run', 'Bill run'), ('refund', 'Refund'), ('account', 'Account'), ('subscription', 'Subscription'), ('payment', 'Payment'), ('payment_run', 'Payment run')], max_length=32, unique=True),
        ),
        migrations.AddConstraint(
            model_name='account',
            constraint=models.CheckConstraint(condition=models.Q(('unapplied_payment_amount__gte', 0)), name='account_unapplied_payments_gte_0', violation_error_message="An account's unapplied payments cannot be negative."),
        ),
        migrations.RunPython(seed_series, remove_series),
    ]
