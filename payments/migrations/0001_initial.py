

import django.db.models.deletion
import django.db.models.expressions
import django.db.models.functions.math
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('billing', '0009_account_auto_pay_and_payment_series'),
        ('memos', '0011_memo_attention_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Payment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.CharField(max_length=32, unique=True, verbose_name='Payment Number')),
                ('amount', models.DecimalField(decimal_places=3, max_digits=18, verbose_name='Amount')),
                ('applied_amount', models.DecimalField(decimal_places=3, default=0, max_digits=18, verbose_name='Applied Amount')),
                ('unapplied_amount', models.GeneratedField(db_persist=True, expression=django.db.models.functions.math.Round(django.db.models.expressions.CombinedExpression(models.F('amount'), '+', django.db.models.expressions.CombinedExpression(models.F('applied_amount'), '*', models.Value(-1))), 3), output_field=models.DecimalField(decimal_places=3, max_digits=18), verbose_name='Unapplied Amount')),
                ('payment_date', models.DateField(verbose_name='Payment Date')),
                ('method', models.CharField(choices=[('electronic', 'Electronic'), ('cash', 'Cash'), ('check', 'Check'), ('wire_transfer', 'Wire Transfer'), ('other', 'Other')], max_length=16, verbose_name='Method')),
                ('reference', models.CharField(blank=True, max_length=100, verbose_name='Reference')),
                ('comment', models.TextField(blank=True, verbose_name='Comment')),
                ('status', models.CharField(choices=[('processed', 'Processed'), ('error', 'Error'), ('canceled', 'Canceled')], default='processed', max_length=16)),
                ('gateway_reference', models.CharField(blank=True, max_length=100, verbose_name='Gateway Reference')),
                ('gateway_message', models.TextField(blank=True, verbose_name='Gateway Message')),
                ('idempotency_key', models.CharField(blank=True, max_length=100, null=True, unique=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='payments', to='billing.account', verbose_name='Customer Account')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('currency', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, to='billing.currency')),
            ],
            options={
                'ordering': ['-payment_date', '-id'],
            },
        ),
        migrations.CreateModel(
            name='PaymentApplication',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('apply', 'Applied'), ('unapply', 'Unapplied')], default='apply', max_length=8)),
                ('amount', models.DecimalField(decimal_places=3, max_digits=18)),
                ('effective_date', models.DateField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('debit_memo', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='payment_applications', to='memos.memo')),
                ('invoice', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='payment_applications', to='billing.invoice')),
                ('payment', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='applications', to='payments.payment')),
                ('undoes', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='unapplications', to='payments.paymentapplication')),
            ],
            options={
                'ordering': ['payment', 'created_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='PaymentApplicationItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('amount', models.DecimalField(decimal_places=3, max_digits=18)),
                ('application', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='payments.paymentapplication')),
                ('debit_memo_item', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='memos.memoitem')),
                ('invoice_item', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='billing.invoiceitem')),
            ],
        ),
        migrations.CreateModel(
            name='PaymentEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('created', 'Created'), ('applied', 'Applied'), ('unapplied', 'Unapplied'), ('canceled', 'Canceled'), ('declined', 'Declined')], max_length=16)),
                ('at', models.DateTimeField(auto_now_add=True)),
                ('message', models.CharField(blank=True, max_length=500)),
                ('after', models.JSONField(blank=True, default=dict)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('payment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='payments.payment')),
            ],
            options={
                'ordering': ['payment', 'at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='PaymentMethod',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('method_type', models.CharField(choices=[('credit_card', 'Credit Card'), ('ach', 'ACH'), ('bank_transfer', 'Bank Transfer')], max_length=16, verbose_name='Type')),
                ('label', models.CharField(max_length=100, verbose_name='Display label')),
                ('gateway_token', models.CharField(max_length=255)),
                ('is_default', models.BooleanField(default=False, verbose_name='Default')),
                ('active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='payment_methods', to='billing.account')),
            ],
            options={
                'ordering': ['account', '-is_default', 'id'],
            },
        ),
        migrations.AddField(
            model_name='payment',
            name='payment_method',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='payments', to='payments.paymentmethod', verbose_name='Payment method'),
        ),
        migrations.CreateModel(
            name='PaymentRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.CharField(max_length=32, unique=True, verbose_name='Payment Run Number')),
                ('target_date', models.DateField()),
                ('scope', models.CharField(choices=[('all', 'All accounts'), ('batch', 'Batch and/or bill cycle day'), ('account', 'Single account'), ('retry', 'Declined and failed documents of another run')], default='all', max_length=16)),
                ('batch', models.CharField(blank=True, choices=[('Batch1', 'Batch1'), ('Batch2', 'Batch2'), ('Batch3', 'Batch3'), ('Batch4', 'Batch4'), ('Batch5', 'Batch5'), ('Batch6', 'Batch6'), ('Batch7', 'Batch7'), ('Batch8', 'Batch8'), ('Batch9', 'Batch9'), ('Batch10', 'Batch10'), ('Batch11', 'Batch11'), ('Batch12', 'Batch12'), ('Batch13', 'Batch13'), ('Batch14', 'Batch14'), ('Batch15', 'Batch15'), ('Batch16', 'Batch16'), ('Batch17', 'Batch17'), ('Batch18', 'Batch18'), ('Batch19', 'Batch19'), ('Batch20', 'Batch20'), ('Batch21', 'Batch21'), ('Batch22', 'Batch22'), ('Batch23', 'Batch23'), ('Batch24', 'Batch24'), ('Batch25', 'Batch25'), ('Batch26', 'Batch26'), ('Batch27', 'Batch27'), ('Batch28', 'Batch28'), ('Batch29', 'Batch29'), ('Batch30', 'Batch30'), ('Batch31', 'Batch31'), ('Batch32', 'Batch32'), ('Batch33', 'Batch33'), ('Batch34', 'Batch34'), ('Batch35', 'Batch35'), ('Batch36', 'Batch36'), ('Batch37', 'Batch37'), ('Batch38', 'Batch38'), ('Batch39', 'Batch39'), ('Batch40', 'Batch40'), ('Batch41', 'Batch41'), ('Batch42', 'Batch42'), ('Batch43', 'Batch43'), ('Batch44', 'Batch44'), ('Batch45', 'Batch45'), ('Batch46', 'Batch46'), ('Batch47', 'Batch47'), ('Batch48', 'Batch48'), ('Batch49', 'Batch49'), ('Batch50', 'Batch50')], max_length=8)),
                ('bill_cycle_day', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('apply_credit_memos', models.BooleanField(default=True, verbose_name='Apply unapplied credit memos')),
                ('collect_payments', models.BooleanField(default=True, verbose_name='Collect payments')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('processing', 'Processing'), ('completed', 'Completed'), ('error', 'Error'), ('canceled', 'Canceled')], default='pending', max_length=16)),
                ('accounts_in_scope', models.PositiveIntegerField(default=0)),
                ('accounts_processed', models.PositiveIntegerField(default=0)),
                ('accounts_failed', models.PositiveIntegerField(default=0)),
                ('credit_applications', models.PositiveIntegerField(default=0, verbose_name='Credit memos applied')),
                ('documents_collected', models.PositiveIntegerField(default=0)),
                ('declines', models.PositiveIntegerField(default=0)),
                ('errors_count', models.PositiveIntegerField(default=0, verbose_name='Errors')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('account', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='payment_runs', to='billing.account')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('retry_of', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='retries', to='payments.paymentrun')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
                'permissions': [('view_payments', 'View payments and payment runs'), ('manage_payments', 'Record, apply, unapply and cancel payments; run payment runs')],
            },
        ),
        migrations.AddField(
            model_name='payment',
            name='payment_run',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='payments', to='payments.paymentrun'),
        ),
        migrations.CreateModel(
            name='PaymentRunApplication',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('application', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='payment_run_link', to='memos.memoapplication')),
                ('payment_run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='credit_applications_made', to='payments.paymentrun')),
            ],
            options={
                'ordering': ['payment_run', 'id'],
            },
        ),
        migrations.CreateModel(
            name='PaymentRunChunk',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('sequence', models.PositiveIntegerField()),
                ('account_ids', models.JSONField()),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('done', 'Done')], default='pending', max_length=16)),
                ('lease_owner', models.CharField(blank=True, max_length=64)),
                ('lease_expires_at', models.DateTimeField(blank=True, null=True)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('payment_run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='chunks', to='payments.paymentrun')),
            ],
            options={
                'ordering': ['payment_run', 'sequence'],
            },
        ),
        migrations.CreateModel(
            name='PaymentRunError',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('declined', 'Declined'), ('error', 'Error'), ('unknown', 'Outcome unknown')], max_length=16)),
                ('reason', models.TextField()),
                ('idempotency_key', models.CharField(blank=True, max_length=100)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='billing.account')),
                ('debit_memo', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='memos.memo')),
                ('invoice', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='billing.invoice')),
                ('payment_run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='errors', to='payments.paymentrun')),
            ],
            options={
                'ordering': ['payment_run', 'id'],
            },
        ),
        migrations.AddConstraint(
            model_name='paymentapplication',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='payment_application_amount_gt_0'),
        ),
        migrations.AddConstraint(
            model_name='paymentapplication',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('invoice__isnull', False), ('debit_memo__isnull', True)), models.Q(('invoice__isnull', True), ('debit_memo__isnull', False)), _connector='OR'), name='payment_application_one_target'),
        ),
        migrations.AddConstraint(
            model_name='paymentapplication',
            constraint=models.CheckConstraint(condition=models.Q(('kind', 'apply'), ('undoes__isnull', False), _connector='OR'), name='payment_application_unapply_names_apply'),
        ),
        migrations.AddConstraint(
            model_name='paymentapplicationitem',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='payment_application_item_amount_gt_0'),
        ),
        migrations.AddConstraint(
            model_name='paymentapplicationitem',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('invoice_item__isnull', False), ('debit_memo_item__isnull', True)), models.Q(('invoice_item__isnull', True), ('debit_memo_item__isnull', False)), _connector='OR'), name='payment_application_item_one_target'),
        ),
        migrations.AddConstraint(
            model_name='paymentmethod',
            constraint=models.UniqueConstraint(condition=models.Q(('is_default', True)), fields=('account',), name='payment_method_one_default_per_account', violation_error_message='An account has one default payment method.'),
        ),
        migrations.AddConstraint(
            model_name='paymentmethod',
            constraint=models.CheckConstraint(condition=models.Q(('is_default', False), ('active', True), _connector='OR'), name='payment_method_default_is_active', violation_error_message='A default payment method must be active.'),
        ),
        migrations.AddConstraint(
            model_name='paymentrun',
            constraint=models.CheckConstraint(condition=models.Q(('bill_cycle_day__isnull', True), models.Q(('bill_cycle_day__gte', 1), ('bill_cycle_day__lte', 31)), _connector='OR'), name='payment_run_bill_cycle_day_1_31', violation_error_message='The bill cycle day is a day of the month, 1 to 31.'),
        ),
        migrations.AddConstraint(
            model_name='paymentrun',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('scope', 'account'), _negated=True), ('account__isnull', False), _connector='OR'), name='payment_run_account_scope_has_account', violation_error_message='A payment run for a single account needs that account.'),
        ),
        migrations.AddConstraint(
            model_name='paymentrun',
            constraint=models.CheckConstraint(condition=models.Q(('apply_credit_memos', True), ('collect_payments', True), _connector='OR'), name='payment_run_does_something', violation_error_message='A payment run applies credit memos, collects payments, or both.'),
        ),
        migrations.AddConstraint(
            model_name='paymentrun',
            constraint=models.CheckConstraint(condition=models.Q(('accounts_processed__lte', models.F('accounts_in_scope'))), name='payment_run_processed_lte_scope', violation_error_message='A payment run cannot process more accounts than are in its scope.'),
        ),
        migrations.AddIndex(
            model_name='payment',
            index=models.Index(fields=['payment_date', 'id'], name='payment_date_keyset'),
        ),
        migrations.AddIndex(
            model_name='payment',
            index=models.Index(fields=['account', 'status'], name='payment_account_status'),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='payment_amount_gt_0', violation_error_message="A payment's amount is greater than zero."),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(('applied_amount__gte', 0), ('applied_amount__lte', models.F('amount'))), name='payment_applied_between_0_and_amount', violation_error_message="A payment's applied amount is between 0 and its amount."),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(('status', 'processed'), ('applied_amount', 0), _connector='OR'), name='payment_only_processed_applied', violation_error_message='Only a processed payment can be applied.'),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('method', 'electronic'), _negated=True), ('payment_method__isnull', False), _connector='OR'), name='payment_electronic_has_method', violation_error_message='An electronic payment names its payment method.'),
        ),
        migrations.AddIndex(
            model_name='paymentrunchunk',
            index=models.Index(fields=['payment_run', 'status'], name='payment_chunk_run_status'),
        ),
        migrations.AddConstraint(
            model_name='paymentrunchunk',
            constraint=models.UniqueConstraint(fields=('payment_run', 'sequence'), name='payment_chunk_sequence_per_run'),
        ),
        migrations.AddConstraint(
            model_name='paymentrunerror',
            constraint=models.CheckConstraint(condition=models.Q(('invoice__isnull', True), ('debit_memo__isnull', True), _connector='OR'), name='payment_run_error_one_document'),
        ),
    ]
