"""The Django admin for payments (DOMAIN.md 5): every model shown with search and filters, money
and state read-only. Payments, their applications and payment runs are written only by the
services (payments.services, payments.runs); the gateway token of a payment method is never
shown."""

from __future__ import annotations

from django.contrib import admin

from billing.admin import DocumentAdmin, ReadOnlyInline, money_display
from payments.models import (
    Payment,
    PaymentApplication,
    PaymentApplicationItem,
    PaymentEvent,
    PaymentMethod,
    PaymentRun,
    PaymentRunApplication,
    PaymentRunChunk,
    PaymentRunError,
)


@admin.register(PaymentMethod)
class PaymentMethodAdmin(DocumentAdmin):
    list_display = ["label", "account", "method_type", "is_default", "active", "created_at"]
    list_filter = ["method_type", "is_default", "active"]
    list_select_related = ["account"]
    search_fields = ["label", "account__number", "account__name"]
    # Not the gateway token: it is never shown.
    fields = ["account", "method_type", "label", "is_default", "active", "created_at"]


class PaymentApplicationInline(ReadOnlyInline):
    model = PaymentApplication
    fk_name = "payment"
    fields = ["kind", "invoice", "debit_memo", "amount", "effective_date", "created_by"]
    readonly_fields = fields
    select_related = ("payment", "invoice", "debit_memo", "created_by")


@admin.register(Payment)
class PaymentAdmin(DocumentAdmin):
    list_display = [
        "number",
        "account",
        "payment_date",
        "method",
        "status",
        "currency",
        "amount_shown",
        "unapplied_shown",
        "payment_run",
    ]
    list_filter = ["status", "method", "currency"]
    list_select_related = ["account", "currency", "payment_run"]
    search_fields = ["number", "account__number", "account__name", "reference"]
    date_hierarchy = "payment_date"
    fields = [
        "number",
        "account",
        "status",
        "currency",
        "amount_shown",
        "applied_shown",
        "unapplied_shown",
        "payment_date",
        "method",
        "payment_method",
        "reference",
        "comment",
        "gateway_reference",
        "gateway_message",
        "payment_run",
        "idempotency_key",
        "created_by",
        "created_at",
    ]
    inlines = [PaymentApplicationInline]
    amount_shown = money_display("amount", "Amount")
    applied_shown = money_display("applied_amount", "Applied Amount")
    unapplied_shown = money_display("unapplied_amount", "Unapplied Amount")


@admin.register(PaymentApplication)
class PaymentApplicationAdmin(DocumentAdmin):
    list_display = ["payment", "kind", "invoice", "debit_memo", "amount_shown", "effective_date"]
    list_filter = ["kind"]
    list_select_related = ["payment__currency", "invoice", "debit_memo"]
    search_fields = ["payment__number", "invoice__number", "debit_memo__number"]
    fields = ["payment", "kind", "invoice", "debit_memo", "undoes", "amount_shown",
              "effective_date", "created_by", "created_at"]  # fmt: skip
    amount_shown = money_display("amount", "Amount", currency="payment.currency")


@admin.register(PaymentApplicationItem)
class PaymentApplicationItemAdmin(DocumentAdmin):
    list_display = ["application", "invoice_item", "debit_memo_item", "amount"]
    list_select_related = ["application__payment", "invoice_item__invoice", "debit_memo_item__memo"]
    search_fields = ["application__payment__number"]
    fields = ["application", "invoice_item", "debit_memo_item", "amount"]


@admin.register(PaymentEvent)
class PaymentEventAdmin(DocumentAdmin):
    list_display = ["payment", "kind", "actor", "at", "message"]
    list_filter = ["kind"]
    list_select_related = ["payment", "actor"]
    search_fields = ["payment__number", "message"]
    fields = ["payment", "kind", "actor", "at", "message", "after"]


class PaymentRunErrorInline(ReadOnlyInline):
    model = PaymentRunError
    fields = ["account", "invoice", "debit_memo", "kind", "reason"]
    readonly_fields = fields
    select_related = ("payment_run", "account", "invoice", "debit_memo")


@admin.register(PaymentRun)
class PaymentRunAdmin(DocumentAdmin):
    list_display = [
        "number",
        "status",
        "scope",
        "target_date",
        "accounts_in_scope",
        "accounts_processed",
        "accounts_failed",
        "credit_applications",
        "documents_collected",
        "declines",
        "errors_count",
        "created_at",
    ]
    list_filter = ["status", "scope", "apply_credit_memos", "collect_payments"]
    list_select_related = ["account"]
    search_fields = ["number", "account__number"]
    date_hierarchy = "target_date"
    fields = [
        "number", "status", "target_date", "scope", "batch", "bill_cycle_day", "account",
        "apply_credit_memos", "collect_payments", "retry_of", "accounts_in_scope",
        "accounts_processed", "accounts_failed", "credit_applications", "documents_collected",
        "declines", "errors_count", "created_by", "created_at", "started_at", "finished_at",
    ]  # fmt: skip
    inlines = [PaymentRunErrorInline]


@admin.register(PaymentRunChunk)
class PaymentRunChunkAdmin(DocumentAdmin):
    list_display = ["payment_run", "sequence", "status", "attempts", "lease_owner"]
    list_filter = ["status"]
    list_select_related = ["payment_run"]
    search_fields = ["payment_run__number"]
    fields = ["payment_run", "sequence", "status", "account_ids", "lease_owner",
              "lease_expires_at", "attempts", "finished_at"]  # fmt: skip


@admin.register(PaymentRunError)
class PaymentRunErrorAdmin(DocumentAdmin):
    list_display = ["payment_run", "account", "invoice", "debit_memo", "kind", "reason"]
    list_filter = ["kind"]
    list_select_related = ["payment_run", "account", "invoice", "debit_memo"]
    search_fields = ["payment_run__number", "account__number", "reason"]
    fields = ["payment_run", "account", "invoice", "debit_memo", "kind", "reason",
              "idempotency_key", "created_at"]  # fmt: skip


@admin.register(PaymentRunApplication)
class PaymentRunApplicationAdmin(DocumentAdmin):
    list_display = ["payment_run", "application"]
    list_select_related = ["payment_run", "application__credit_memo"]
    search_fields = ["payment_run__number", "application__credit_memo__number"]
    fields = ["payment_run", "application"]
