"""Constraint messages in words (shown by the admin's forms instead of the constraint's name).

No database change: AlterConstraint only records the new violation_error_message.
"""

import django.db.models.expressions
import django.db.models.functions.math
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0006_constraint_messages'),
        ('memos', '0004_bill_run_engine'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterConstraint(
            model_name='memo',
            name='memo_amount_gte_0',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gte', 0)), name='memo_amount_gte_0', violation_error_message="A memo's amount cannot be negative."),
        ),
        migrations.AlterConstraint(
            model_name='memo',
            name='memo_applied_refunded_gte_0',
            constraint=models.CheckConstraint(condition=models.Q(('applied_amount__gte', 0), ('refund_amount__gte', 0)), name='memo_applied_refunded_gte_0', violation_error_message="A memo's applied and refunded amounts cannot be negative."),
        ),
        migrations.AlterConstraint(
            model_name='memo',
            name='memo_applied_plus_refunded_lte_amount',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gte', django.db.models.functions.math.Round(django.db.models.expressions.CombinedExpression(models.F('applied_amount'), '+', models.F('refund_amount')), 3))), name='memo_applied_plus_refunded_lte_amount', violation_error_message='A memo cannot be applied and refunded for more than its amount.'),
        ),
        migrations.AlterConstraint(
            model_name='memo',
            name='memo_balance_between_0_and_amount',
            constraint=models.CheckConstraint(condition=models.Q(('balance__gte', 0), ('balance__lte', models.F('amount'))), name='memo_balance_between_0_and_amount', violation_error_message="A debit memo's balance is between zero and its amount."),
        ),
        migrations.AlterConstraint(
            model_name='memo',
            name='memo_amount_is_net_plus_tax',
            constraint=models.CheckConstraint(condition=models.Q(('amount', django.db.models.functions.math.Round(django.db.models.expressions.CombinedExpression(models.F('amount_excl_tax'), '+', models.F('tax_amount')), 3))), name='memo_amount_is_net_plus_tax', violation_error_message="A memo's amount is its amount excluding tax plus its tax."),
        ),
        migrations.AlterConstraint(
            model_name='memo',
            name='memo_debit_has_no_refund_or_reversal',
            constraint=models.CheckConstraint(condition=models.Q(('memo_type', 'credit'), models.Q(('refund_amount', 0), ('reversed', False)), _connector='OR'), name='memo_debit_has_no_refund_or_reversal', violation_error_message='A debit memo is never refunded or reversed.'),
        ),
        migrations.AlterConstraint(
            model_name='memo',
            name='memo_bill_run_source_has_bill_run',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('source', 'bill_run'), _negated=True), ('bill_run__isnull', False), _connector='OR'), name='memo_bill_run_source_has_bill_run', violation_error_message='A memo from a bill run names its bill run.'),
        ),
        migrations.AlterConstraint(
            model_name='memo',
            name='memo_invoice_source_has_invoice',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('source', 'invoice'), _negated=True), ('invoice__isnull', False), _connector='OR'), name='memo_invoice_source_has_invoice', violation_error_message='A memo from an invoice names its invoice.'),
        ),
        migrations.AlterConstraint(
            model_name='reasoncode',
            name='reason_code_one_default_per_type',
            constraint=models.UniqueConstraint(condition=models.Q(('is_default', True)), fields=('code_type',), name='reason_code_one_default_per_type', violation_error_message='Each type has one default reason code; making a code the default takes it from the old one.'),
        ),
        migrations.AlterConstraint(
            model_name='reasoncode',
            name='reason_code_default_is_active',
            constraint=models.CheckConstraint(condition=models.Q(('is_default', False), ('active', True), _connector='OR'), name='reason_code_default_is_active', violation_error_message='A default reason code must be active.'),
        ),
        migrations.AlterConstraint(
            model_name='refund',
            name='refund_amount_gt_0',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='refund_amount_gt_0', violation_error_message="A refund's amount is greater than zero."),
        ),
    ]
