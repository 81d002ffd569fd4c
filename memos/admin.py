"""The Django admin for memos: reason codes are configured here; memos, applications, refunds
and history are shown, with money and state read-only (see billing/admin.py).

Every write goes through the services the UI uses, with the user as the actor, so it is checked
by the same rules and lands in the same history (DOMAIN.md 5): a memo's header edits through
lifecycle.update_memo_header, its deletion through lifecycle.delete_memo, a refund's comment
through lifecycle.update_refund_comment, reason codes through services.reason_codes.
Applications, items and history are never written here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import ValidationError
from django.db.models import Q

from billing import permissions as perms
from billing.admin import DocumentAdmin, ReadOnlyInline, money_display
from billing.admin_writes import ServiceWritesAdmin, refusals_as_messages
from billing.models import BillingSettings
from memos.models import (
    CreditInsight,
    Memo,
    MemoApplication,
    MemoApplicationItem,
    MemoEvent,
    MemoItem,
    ReasonCode,
    Refund,
)
from memos.services import lifecycle, reason_codes
from memos.services.common import REASON_CODE_TYPE


def one_newline(text: str) -> str:
    # Browsers send a textarea's line breaks as CRLF: stored text keeps plain LF.
    return text.replace("\r\n", "\n")


class ReasonCodeForm(forms.ModelForm):
    """Shows the service's refusals beside the fields, in its words."""

    class Meta:
        model = ReasonCode
        fields = ["code_type", "name", "is_default", "active"]

    def _get_validation_exclusions(self):
        # The default's rules are the service's: making a code the default takes it from the old
        # one, which the model's one-default constraint, checked on this row alone, would refuse.
        return super()._get_validation_exclusions() | {"is_default"}

    def clean(self):
        data = super().clean()
        instance = self.instance
        code_type = data.get("code_type", instance.code_type)
        if code_type and data.get("name") is not None:
            try:
                reason_codes.check_reason_code(
                    code_type=code_type,
                    name=data["name"],
                    is_default=data.get("is_default", False),
                    active=data.get("active", False),
                    reason_code=instance if instance.pk else None,
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field if field in self.fields else None, errors)
        return data


@admin.register(ReasonCode)
class ReasonCodeAdmin(ServiceWritesAdmin):
    """Reason codes are deactivated, never deleted (memos and refunds keep pointing at them)."""

    form = ReasonCodeForm
    list_display = ["name", "code_type", "is_default", "active"]
    list_filter = ["code_type", "active", "is_default"]
    search_fields = ["name"]
    actions = []

    def get_readonly_fields(self, request, obj=None):
        # Memos and refunds point at a code as one of their type.
        return ["code_type"] if obj is not None else []

    def has_add_permission(self, request) -> bool:
        # DOMAIN.md 2.8: at most 300 reason codes.
        if ReasonCode.objects.count() >= BillingSettings.max_reason_codes:
            return False
        return super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        with refusals_as_messages():
            if change:
                changed = {field: data[field] for field in form.changed_data if field in data}
                if changed:
                    reason_codes.update_reason_code(reason_code=obj, actor=request.user, **changed)
            else:
                created = reason_codes.create_reason_code(
                    actor=request.user,
                    code_type=data["code_type"],
                    name=data["name"],
                    is_default=data["is_default"],
                    active=data["active"],
                )
                obj.pk = created.pk


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
class MemoAdmin(ServiceWritesAdmin, DocumentAdmin):
    """A memo's header saves through lifecycle.update_memo_header, like the memo edit page.

    Only the fields that service would change on this memo for this user are inputs (DOMAIN.md
    2.4); everything else, money and state included, is read-only. Editing needs the edit page's
    permission ("process memo") besides the admin's own; deleting needs "delete canceled memo"
    and goes through lifecycle.delete_memo, which deletes only Canceled memos.
    """

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
            # DOMAIN.md 8: read-only here; submit, approve and reject are on the memo page.
            "Approval",
            {
                "fields": [
                    "approval_status",
                    "submitted_by",
                    "submitted_at",
                    "approved_by",
                    "approved_at",
                ]
            },
        ),
        (
            "Record",
            {"fields": ["idempotency_key", "created_by", "created_at", "updated_at", "posted_at"]},
        ),
    ]
    # The most that can be editable (DOMAIN.md 2.4); get_readonly_fields narrows it per memo.
    editable_fields = (
        "comments",
        "memo_date",
        "reason_code",
        "auto_pay",
        "apply_to_invoice_on_post",
        "exclude_from_auto_apply",
    )
    inlines = [MemoItemInline]

    display_amount_excl_tax = money_display("amount_excl_tax", "Amount excl. tax")
    display_tax_amount = money_display("tax_amount", "Tax amount")
    display_amount = money_display("amount", "Amount")
    display_applied_amount = money_display("applied_amount", "Applied Amount")
    display_refund_amount = money_display("refund_amount", "Refund Amount")
    display_unapplied_amount = money_display("unapplied_amount", "Unapplied Amount")
    display_balance = money_display("balance", "Balance")

    def may_change_reason_code(self, request) -> bool:
        return request.user.has_perm(perms.CHANGE_REASON_CODE)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and request.user.has_perm(
            perms.PROCESS_MEMO
        )

    def get_readonly_fields(self, request, obj=None):
        names = flatten_fieldsets(self.get_fieldsets(request, obj))
        if obj is None:
            return names
        editable = lifecycle.editable_header_fields(
            obj, may_change_reason_code=self.may_change_reason_code(request)
        )
        return [name for name in names if name not in editable]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        field = form.base_fields.get("reason_code")
        if field is not None and obj is not None:
            # The type's active codes; the memo's own stays a choice even once deactivated.
            field.queryset = ReasonCode.objects.filter(
                Q(code_type=REASON_CODE_TYPE[obj.memo_type], active=True) | Q(pk=obj.reason_code_id)
            )
        return form

    def save_model(self, request, obj, form, change) -> None:
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        if "comments" in changed:
            comments = one_newline(changed["comments"])
            # Text sent back as it was (line breaks aside) is no change.
            if comments == one_newline(form.initial.get("comments") or ""):
                del changed["comments"]
            else:
                changed["comments"] = comments
        if not changed:
            return
        with refusals_as_messages():
            lifecycle.update_memo_header(
                memo=obj,
                actor=request.user,
                may_change_reason_code=self.may_change_reason_code(request),
                **changed,
            )

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(perms.DELETE_MEMO)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Its items and history go with the memo inside the delete service: deleting them is not
        # a permission of its own.
        perms_needed -= {MemoItem._meta.verbose_name, MemoEvent._meta.verbose_name}
        return deleted, counts, perms_needed, protected

    def deletion_refusal(self, request, obj) -> str | None:
        return lifecycle.deletion_refusal(obj)

    def delete_through_service(self, request, obj) -> None:
        lifecycle.delete_memo(memo=obj, actor=request.user)


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
class RefundAdmin(ServiceWritesAdmin, DocumentAdmin):
    """A refund is made by the refund service; here only its comment changes, through
    lifecycle.update_refund_comment, which records it on the memo's history."""

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
    actions = []

    display_amount = money_display("amount", "Amount", currency="credit_memo.currency")

    def has_change_permission(self, request, obj=None) -> bool:
        # The refund page's permission, as for the memo's own edits.
        return super().has_change_permission(request, obj) and request.user.has_perm(
            perms.SETTLE_CREDIT_MEMO
        )

    def save_model(self, request, obj, form, change) -> None:
        if "comment" not in form.changed_data:
            return
        with refusals_as_messages():
            lifecycle.update_refund_comment(
                refund=obj, actor=request.user, comment=form.cleaned_data["comment"]
            )


@admin.register(MemoEvent)
class MemoEventAdmin(DocumentAdmin):
    """The memo history is append-only."""

    list_display = ["memo", "kind", "actor", "at", "message"]
    list_filter = ["kind"]
    list_select_related = ["memo", "actor"]
    search_fields = ["memo__number", "message"]
    date_hierarchy = "at"
    fields = ["memo", "kind", "actor", "at", "message", "before", "after"]


@admin.register(CreditInsight)
class CreditInsightAdmin(admin.ModelAdmin):
    """The credit insight's sums, read-only: kept by memos.services.insight, never typed."""

    list_display = ["kind", "month", "currency_id", "batch", "memo_count", "amount"]
    list_filter = ["kind", "currency_id"]
    search_fields = ["batch"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
