"""The Django admin for memos: reason codes are configured here; memos, applications, refunds
and history are shown, with money and state read-only (see billing/admin.py).
"""

from __future__ import annotations

from django.contrib import admin

from billing.admin import DocumentAdmin, ReadOnlyInline, money_display
from billing.models import BillingSettings
from memos.models import (
    Memo,
    MemoApplication,
    MemoApplicationItem,
    MemoEvent,
    MemoItem,
    ReasonCode,
    Refund,
)


@admin.register(ReasonCode)
class ReasonCodeAdmin(admin.ModelAdmin):
    """Reason codes are deactivated, never deleted (memos and refunds keep pointing at them)."""

    list_display = ["name", "code_type", "is_default", "active"]
    list_filter = ["code_type", "active", "is_default"]
    search_fields = ["name"]

    def has_add_permission(self, request) -> bool:
        # DOMAIN.md 2.8: at most 300 reason codes.
        if ReasonCode.objects.count() >= BillingSettings.max_reason_codes:
            return False
        return super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class MemoItemInline(ReadOnlyInline):
    model = MemoItem
    fields = [
        "sort_order",
        "charge_name",
        "description",
        "source_label",
        "service_start",
        "service_end",
        "quantity",
        "unit_price",
        "tax_mode",
        "display_amount_excl_tax",
        "display_tax_amount",
        "display_amount",
        "display_applied_amount",
        "display_unapplied_amount",
        "display_balance",
    ]
    readonly_fields = fields
    select_related = ("memo__currency",)

    display_amount_excl_tax = money_display(
        "amount_excl_tax", "Amount excl. tax", currency="memo.currency"
    )
    display_tax_amount = money_display("tax_amount", "Tax", currency="memo.currency")
    display_amount = money_display("amount", "Amount", currency="memo.currency")
    display_applied_amount = money_display("applied_amount", "Applied", currency="memo.currency")
    display_unapplied_amount = money_display(
        "unapplied_amount", "Unapplied", currency="memo.currency"
    )
    display_balance = money_display("balance", "Balance", currency="memo.currency")

    @admin.display(description="Source")
    def source_label(self, obj: MemoItem) -> str:
        return obj.source_label


@admin.register(Memo)
class MemoAdmin(DocumentAdmin):
    list_display = [
        "number",
        "memo_type",
        "account",
        "status",
        "source",
        "memo_date",
        "currency",
        "display_amount",
        "display_unapplied_amount",
        "display_balance",
        "transferred_to_accounting",
    ]
    list_filter = [
        "memo_type",
        "status",
        "source",
        "transferred_to_accounting",
        "reversed",
        "tax_status",
        "currency",
    ]
    list_select_related = ["account", "currency"]
    search_fields = ["number", "account__number", "account__name", "invoice__number"]
    date_hierarchy = "memo_date"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "memo_type",
                    "number",
                    "status",
                    "account",
                    "currency",
                    "source",
                    "invoice",
                    "bill_run",
                    "reversed_memo",
                    "memo_date",
                    "reason_code",
                    "comments",
                ]
            },
        ),
        (
            "Amounts",
            {
                "fields": [
                    "display_amount_excl_tax",
                    "display_tax_amount",
                    "display_amount",
                    "display_applied_amount",
                    "display_refund_amount",
                    "display_unapplied_amount",
                    "display_balance",
                    "reversed",
                ]
            },
        ),
        (
            "Payment and auto-apply",
            {"fields": ["auto_pay", "apply_to_invoice_on_post", "exclude_from_auto_apply"]},
        ),
        (
            "Accounting and tax",
            {
                "fields": [
                    "transferred_to_accounting",
                    "tax_auto_calculation",
                    "taxed_by_third_party",
                    "tax_status",
                    "tax_message",
                ]
            },
        ),
        (
            "Record",
            {"fields": ["idempotency_key", "created_by", "created_at", "updated_at", "posted_at"]},
        ),
    ]
    # DOMAIN.md 2.4: comments can be edited on any status. Everything else that may change
    # (flags while unsettled, reason code with its permission) has a rule a service checks.
    editable_fields = ("comments",)
    inlines = [MemoItemInline]

    display_amount_excl_tax = money_display("amount_excl_tax", "Amount excl. tax")
    display_tax_amount = money_display("tax_amount", "Tax amount")
    display_amount = money_display("amount", "Amount")
    display_applied_amount = money_display("applied_amount", "Applied Amount")
    display_refund_amount = money_display("refund_amount", "Refund Amount")
    display_unapplied_amount = money_display("unapplied_amount", "Unapplied Amount")
    display_balance = money_display("balance", "Balance")


@admin.register(MemoItem)
class MemoItemAdmin(DocumentAdmin):
    list_display = [
        "memo",
        "sort_order",
        "charge_name",
        "service_start",
        "service_end",
        "quantity",
        "display_amount",
        "display_unapplied_amount",
        "display_balance",
    ]
    list_filter = ["tax_mode", "memo__memo_type"]
    list_select_related = ["memo__currency"]
    search_fields = ["memo__number", "charge_name", "description"]
    fields = [
        "memo",
        "sort_order",
        "invoice_item",
        "charge",
        "subscription_charge",
        "charge_name",
        "description",
        "service_start",
        "service_end",
        "quantity",
        "unit_of_measure",
        "unit_price",
        "tax_code",
        "tax_mode",
        "display_amount_excl_tax",
        "display_tax_amount",
        "display_amount",
        "display_applied_amount",
        "display_refund_amount",
        "display_unapplied_amount",
        "display_balance",
    ]

    display_amount_excl_tax = money_display(
        "amount_excl_tax", "Amount excl. tax", currency="memo.currency"
    )
    display_tax_amount = money_display("tax_amount", "Tax amount", currency="memo.currency")
    display_amount = money_display("amount", "Amount", currency="memo.currency")
    display_applied_amount = money_display("applied_amount", "Applied", currency="memo.currency")
    display_refund_amount = money_display("refund_amount", "Refunded", currency="memo.currency")
    display_unapplied_amount = money_display(
        "unapplied_amount", "Unapplied", currency="memo.currency"
    )
    display_balance = money_display("balance", "Balance", currency="memo.currency")


class MemoApplicationItemInline(ReadOnlyInline):
    model = MemoApplicationItem
    fields = ["credit_memo_item", "invoice_item", "debit_memo_item", "display_amount"]
    readonly_fields = fields
    select_related = (
        "application__credit_memo__currency",
        "credit_memo_item__memo",
        "invoice_item__invoice",
        "debit_memo_item__memo",
    )

    display_amount = money_display("amount", "Amount", currency="application.credit_memo.currency")


@admin.register(MemoApplication)
class MemoApplicationAdmin(DocumentAdmin):
    list_display = [
        "credit_memo",
        "kind",
        "target",
        "display_amount",
        "effective_date",
        "created_by",
        "created_at",
    ]
    list_filter = ["kind"]
    list_select_related = ["credit_memo__currency", "invoice", "debit_memo", "created_by"]
    search_fields = ["credit_memo__number", "invoice__number", "debit_memo__number"]
    date_hierarchy = "effective_date"
    fields = [
        "credit_memo",
        "kind",
        "invoice",
        "debit_memo",
        "undoes",
        "display_amount",
        "effective_date",
        "created_by",
        "created_at",
    ]
    inlines = [MemoApplicationItemInline]

    display_amount = money_display("amount", "Amount", currency="credit_memo.currency")

    @admin.display(description="Applied to")
    def target(self, obj: MemoApplication) -> str:
        return str(obj.invoice or obj.debit_memo)


@admin.register(MemoApplicationItem)
class MemoApplicationItemAdmin(DocumentAdmin):
    list_display = ["application", "credit_memo_item", "target_item", "display_amount"]
    list_select_related = [
        "application__credit_memo__currency",
        "application__invoice",
        "application__debit_memo",
        "credit_memo_item__memo",
        "invoice_item__invoice",
        "debit_memo_item__memo",
    ]
    search_fields = [
        "application__credit_memo__number",
        "invoice_item__invoice__number",
        "debit_memo_item__memo__number",
    ]
    fields = [
        "application",
        "credit_memo_item",
        "invoice_item",
        "debit_memo_item",
        "display_amount",
    ]

    display_amount = money_display("amount", "Amount", currency="application.credit_memo.currency")

    @admin.display(description="Applied to item")
    def target_item(self, obj: MemoApplicationItem) -> str:
        return str(obj.invoice_item or obj.debit_memo_item)


@admin.register(Refund)
class RefundAdmin(DocumentAdmin):
    list_display = [
        "number",
        "credit_memo",
        "display_amount",
        "method",
        "refund_date",
        "reason_code",
        "created_by",
    ]
    list_filter = ["method", "reason_code"]
    list_select_related = ["credit_memo__currency", "reason_code", "created_by"]
    search_fields = ["number", "credit_memo__number", "credit_memo__account__number"]
    date_hierarchy = "refund_date"
    fields = [
        "number",
        "credit_memo",
        "display_amount",
        "method",
        "refund_date",
        "reason_code",
        "comment",
        "created_by",
        "created_at",
    ]
    editable_fields = ("comment",)

    display_amount = money_display("amount", "Amount", currency="credit_memo.currency")


@admin.register(MemoEvent)
class MemoEventAdmin(DocumentAdmin):
    """The memo history is append-only."""

    list_display = ["memo", "kind", "actor", "at", "message"]
    list_filter = ["kind"]
    list_select_related = ["memo", "actor"]
    search_fields = ["memo__number", "message"]
    date_hierarchy = "at"
    fields = ["memo", "kind", "actor", "at", "message", "before", "after"]
