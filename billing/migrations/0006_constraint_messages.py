"""Constraint messages in words (shown by the admin's forms instead of the constraint's name).

No database change: AlterConstraint only records the new violation_error_message.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0005_accounting_period_events'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterConstraint(
            model_name='account',
            name='account_bill_cycle_day_1_31',
            constraint=models.CheckConstraint(condition=models.Q(('bill_cycle_day__gte', 1), ('bill_cycle_day__lte', 31)), name='account_bill_cycle_day_1_31', violation_error_message='The bill cycle day is a day of the month, 1 to 31.'),
        ),
        migrations.AlterConstraint(
            model_name='account',
            name='account_batch_1_50',
            constraint=models.CheckConstraint(condition=models.Q(('batch__regex', '^Batch([1-9]|[1-4][0-9]|50)$')), name='account_batch_1_50', violation_error_message='The batch is one of Batch1 to Batch50.'),
        ),
        migrations.AlterConstraint(
            model_name='billingsettings',
            name='billing_settings_singleton',
            constraint=models.CheckConstraint(condition=models.Q(('pk', 1)), name='billing_settings_singleton', violation_error_message='There is one billing settings row: change it, do not add another.'),
        ),
        migrations.AlterConstraint(
            model_name='billrun',
            name='bill_run_bill_cycle_day_1_31',
            constraint=models.CheckConstraint(condition=models.Q(('bill_cycle_day__isnull', True), models.Q(('bill_cycle_day__gte', 1), ('bill_cycle_day__lte', 31)), _connector='OR'), name='bill_run_bill_cycle_day_1_31', violation_error_message='The bill cycle day is a day of the month, 1 to 31.'),
        ),
        migrations.AlterConstraint(
            model_name='billrun',
            name='bill_run_account_scope_has_account',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('scope', 'account'), _negated=True), ('account__isnull', False), _connector='OR'), name='bill_run_account_scope_has_account', violation_error_message='A bill run for a single account needs that account.'),
        ),
        migrations.AlterConstraint(
            model_name='billrun',
            name='bill_run_includes_a_charge_type',
            constraint=models.CheckConstraint(condition=models.Q(('include_one_time', True), ('include_recurring', True), ('include_usage', True), _connector='OR'), name='bill_run_includes_a_charge_type', violation_error_message='A bill run includes at least one charge type.'),
        ),
        migrations.AlterConstraint(
            model_name='billrun',
            name='bill_run_processed_lte_scope',
            constraint=models.CheckConstraint(condition=models.Q(('accounts_processed__lte', models.F('accounts_in_scope'))), name='bill_run_processed_lte_scope', violation_error_message='A bill run cannot process more accounts than are in its scope.'),
        ),
        migrations.AlterConstraint(
            model_name='charge',
            name='charge_billing_period_iff_recurring',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('charge_type', 'recurring'), models.Q(('billing_period', ''), _negated=True)), models.Q(models.Q(('charge_type', 'recurring'), _negated=True), ('billing_period', '')), _connector='OR'), name='charge_billing_period_iff_recurring', violation_error_message='A recurring charge needs a billing period, and only a recurring charge has one.'),
        ),
        migrations.AlterConstraint(
            model_name='charge',
            name='charge_taxable_has_tax_code',
            constraint=models.CheckConstraint(condition=models.Q(('taxable', False), ('tax_code__isnull', False), _connector='OR'), name='charge_taxable_has_tax_code', violation_error_message='A taxable charge needs a tax code.'),
        ),
        migrations.AlterConstraint(
            model_name='currency',
            name='currency_minor_unit_at_most_3',
            constraint=models.CheckConstraint(condition=models.Q(('minor_unit__lte', 3)), name='currency_minor_unit_at_most_3', violation_error_message='A currency has at most 3 decimals.'),
        ),
        migrations.AlterConstraint(
            model_name='currency',
            name='currency_code_iso_4217',
            constraint=models.CheckConstraint(condition=models.Q(('code__regex', '^[A-Z]{3}$')), name='currency_code_iso_4217', violation_error_message='A currency code is three capital letters (ISO 4217), e.g. USD.'),
        ),
        migrations.AlterConstraint(
            model_name='numberseries',
            name='number_series_prefix',
            constraint=models.CheckConstraint(condition=models.Q(('prefix__regex', '^[A-Za-z0-9_-]{1,16}$')), name='number_series_prefix', violation_error_message='A prefix is 1 to 16 letters, digits, hyphens or underscores.'),
        ),
        migrations.AlterConstraint(
            model_name='subscription',
            name='subscription_end_after_start',
            constraint=models.CheckConstraint(condition=models.Q(('end_date__isnull', True), ('end_date__gte', models.F('start_date')), _connector='OR'), name='subscription_end_after_start', violation_error_message='A subscription cannot end before it starts.'),
        ),
        migrations.AlterConstraint(
            model_name='subscriptioncharge',
            name='sub_charge_quantity_gte_0',
            constraint=models.CheckConstraint(condition=models.Q(('quantity__gte', 0)), name='sub_charge_quantity_gte_0', violation_error_message='A subscribed quantity cannot be negative.'),
        ),
        migrations.AlterConstraint(
            model_name='subscriptioncharge',
            name='sub_charge_end_after_start',
            constraint=models.CheckConstraint(condition=models.Q(('end_date__isnull', True), ('end_date__gte', models.F('start_date')), _connector='OR'), name='sub_charge_end_after_start', violation_error_message='A subscription charge cannot end before it starts.'),
        ),
        migrations.AlterConstraint(
            model_name='taxrate',
            name='tax_rate_percentage',
            constraint=models.CheckConstraint(condition=models.Q(('rate__gte', 0), ('rate__lte', 100)), name='tax_rate_percentage', violation_error_message='A tax rate is a percentage from 0 to 100.'),
        ),
        migrations.AlterConstraint(
            model_name='taxrate',
            name='tax_rate_end_after_start',
            constraint=models.CheckConstraint(condition=models.Q(('effective_to__isnull', True), ('effective_to__gte', models.F('effective_from')), _connector='OR'), name='tax_rate_end_after_start', violation_error_message='A tax rate cannot end before it starts.'),
        ),
    ]
