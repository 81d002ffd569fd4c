"""What the memos resource reads and takes: a memo as its page shows it, the bodies of the
create endpoints, and the bodies of the memo page's actions."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from api.fields import IdField, MoneyField, NumberField, NumberOf
from billing.money import QUANTITY_COLUMN
from memos.forms.common import tax_mode, typed_tax
from memos.models import MemoType, ReasonCode, RefundMethod, TransferStatus
from memos.services import approvals
from memos.services.common import REASON_CODE_TYPE
from memos.services.transfer import BULK_TRANSFER_LIMIT, BULK_TRANSFER_VALUES

# --- what a memo reads as ------------------------------------------------------------------


class MemoSummarySerializer(serializers.Serializer):
    number = serializers.CharField()
    memo_type = serializers.CharField()
    status = serializers.CharField()
    source = serializers.CharField()
    account = NumberOf()
    account_name = serializers.CharField(source="account.name")
    currency = serializers.CharField(source="currency_id")
    memo_date = serializers.DateField()
    amount_excl_tax = MoneyField()
    tax_amount = MoneyField()
    amount = MoneyField()
    applied_amount = MoneyField()
    refund_amount = MoneyField()
    unapplied_amount = MoneyField()
    balance = MoneyField()
    reason_code = serializers.CharField(source="reason_code.name", allow_null=True)
    invoice = NumberOf()
    bill_run = NumberOf()
    reversed = serializers.BooleanField()
    transferred_to_accounting = serializers.CharField()
    tax_status = serializers.CharField()
    created_at = serializers.DateTimeField()
    posted_at = serializers.DateTimeField(allow_null=True)


class MemoItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    invoice_item = serializers.IntegerField(source="invoice_item_id", allow_null=True)
    charge = serializers.IntegerField(source="charge_id", allow_null=True)
    charge_name = serializers.CharField()
    description = serializers.CharField()
    service_start = serializers.DateField(allow_null=True)
    service_end = serializers.DateField(allow_null=True)
    quantity = serializers.CharField()
    unit_of_measure = serializers.CharField()
    unit_price = serializers.CharField()
    tax_code = serializers.CharField(source="tax_code.code", allow_null=True, default=None)
    tax_mode = serializers.CharField()
    amount_excl_tax = MoneyField(currency_from="memo.currency")
    tax_amount = MoneyField(currency_from="memo.currency")
    amount = MoneyField(currency_from="memo.currency")
    applied_amount = MoneyField(currency_from="memo.currency")
    refund_amount = MoneyField(currency_from="memo.currency")
    balance = MoneyField(currency_from="memo.currency")


class ApplicationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    credit_memo = NumberOf()
    invoice = NumberOf()
    debit_memo = NumberOf()
    amount = MoneyField(currency_from="credit_memo.currency")
    effective_date = serializers.DateField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class RefundSerializer(serializers.Serializer):
    number = serializers.CharField()
    amount = MoneyField(currency_from="credit_memo.currency")
    method = serializers.CharField()
    refund_date = serializers.DateField()
    reason_code = serializers.CharField(source="reason_code.name")
    comment = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class EventSerializer(serializers.Serializer):
    kind = serializers.CharField()
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    message = serializers.CharField()
    before = serializers.JSONField()
    after = serializers.JSONField()


class MemoSerializer(MemoSummarySerializer):
    """One memo: every field of its page, with items, applications, refunds and history."""

    comments = serializers.CharField()
    auto_pay = serializers.BooleanField()
    apply_to_invoice_on_post = serializers.BooleanField()
    exclude_from_auto_apply = serializers.BooleanField()
    tax_auto_calculation = serializers.BooleanField()
    tax_message = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    updated_at = serializers.DateTimeField()
    # DOMAIN.md 8: "" (not submitted), "awaiting" or "approved", and who and when.
    approval_status = serializers.CharField()
    submitted_by = serializers.CharField(
        source="submitted_by.username", allow_null=True, default=None
    )
    submitted_at = serializers.DateTimeField(allow_null=True)
    approved_by = serializers.CharField(
        source="approved_by.username", allow_null=True, default=None
    )
    approved_at = serializers.DateTimeField(allow_null=True)
    items = MemoItemSerializer(many=True)
    applications = serializers.SerializerMethodField()
    refunds = RefundSerializer(many=True)
    history = EventSerializer(source="events", many=True)

    @extend_schema_field(ApplicationSerializer(many=True))
    def get_applications(self, memo) -> list[dict]:
        # A credit memo's applications, or the credit applied to a debit memo.
        credit = memo.memo_type == MemoType.CREDIT
        rows = list(memo.applications.all() if credit else memo.credit_applications.all())
        for row in rows:
            # The credit memo of a credit memo's own application is the memo itself: no query.
            if row.credit_memo_id == memo.pk:
                row.credit_memo = memo
        return ApplicationSerializer(rows, many=True).data


# --- what a memo is made from ----------------------------------------------------------------


class MemoHeaderSerializer(serializers.Serializer):
    """The header of the create forms (memos/forms/common.py MemoHeaderForm)."""

    memo_type = serializers.ChoiceField(choices=MemoType.choices)
    memo_date = serializers.DateField(required=False, help_text="Default: today.")
    reason_code = serializers.CharField(
        required=False, max_length=100, help_text="A reason code's name. Default: the type's."
    )
    comments = serializers.CharField(required=False, allow_blank=True, default="")
    tax_auto_calculation = serializers.BooleanField(default=True)
    exclude_from_auto_apply = serializers.BooleanField(default=False, help_text="Credit memos.")
    auto_pay = serializers.BooleanField(default=True, help_text="Debit memos.")

    def service_kwargs(self) -> dict:
        data = self.validated_data
        memo_type = data["memo_type"]
        kwargs = {
            "memo_type": memo_type,
            "memo_date": data.get("memo_date"),
            "reason_code": None,
            "comments": data["comments"],
            "tax_auto_calculation": data["tax_auto_calculation"],
            "exclude_from_auto_apply": data["exclude_from_auto_apply"],
            "auto_pay": data["auto_pay"],
        }
        if data.get("reason_code"):
            code = ReasonCode.objects.filter(
                code_type=REASON_CODE_TYPE[memo_type], name=data["reason_code"], active=True
            ).first()
            if code is None:
                kind = MemoType(memo_type).label.lower()
                raise ValidationError(
                    {
                        "reason_code": [
                            f"No active {kind} reason code is named {data['reason_code']!r}."
                        ]
                    }
                )
            kwargs["reason_code"] = code
        return kwargs


class LineTaxSerializer(serializers.Serializer):
    amount = NumberField()
    tax_included = serializers.BooleanField(
        default=False, help_text="The amount includes tax (with tax auto-calculation on)."
    )
    tax_amount = NumberField(
        required=False, allow_null=True, help_text="With tax auto-calculation off."
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class InvoiceLineSerializer(LineTaxSerializer):
    invoice_item = IdField(help_text="The invoice item's id.")


class ChargeLineSerializer(LineTaxSerializer):
    charge = IdField(help_text="The catalog charge's id.")
    quantity = NumberField(required=False, allow_null=True, column=QUANTITY_COLUMN, min_value=0)
    service_start = serializers.DateField(required=False, allow_null=True)
    service_end = serializers.DateField(required=False, allow_null=True)


class MemoFromInvoiceSerializer(MemoHeaderSerializer):
    invoice = serializers.CharField(max_length=32, help_text="The posted invoice's number.")
    apply_to_invoice_on_post = serializers.BooleanField(default=False, help_text="Credit memos.")
    items = InvoiceLineSerializer(many=True)


class MemoFromChargesSerializer(MemoHeaderSerializer):
    account = serializers.CharField(max_length=32, help_text="The account's number.")
    lines = ChargeLineSerializer(many=True)


def line_tax(line: dict, auto_tax: bool) -> dict:
    """Tax-Included counts only with auto-calculation on, a typed tax only with it off: the
    create pages' rule (memos/forms/common.py tax_mode, typed_tax)."""
    return {
        "tax_mode": tax_mode(line, auto_tax),
        "tax_amount": typed_tax(line, auto_tax),
    }


# --- what the actions on a memo take ---------------------------------------------------------


def reason_code_named(memo_type_or_code_type: str, name: str, *, field: str = "reason_code"):
    """The active reason code of that type named `name` (the API names codes as the UI shows
    them), or a 400 on `field`."""
    code_type = REASON_CODE_TYPE.get(memo_type_or_code_type, memo_type_or_code_type)
    code = ReasonCode.objects.filter(code_type=code_type, name=name, active=True).first()
    if code is None:
        raise ValidationError({field: [f"No active {code_type} reason code is named {name!r}."]})
    return code


class MemoEditSerializer(serializers.Serializer):
    """The memo page's Edit (memos/views/edit.py): what is sent is changed, what is left out
    stays; the service refuses what the memo's status does not allow (DOMAIN.md 2.4)."""

    memo_date = serializers.DateField(required=False, help_text="Drafts only.")
    reason_code = serializers.CharField(
        required=False, max_length=100, help_text="A reason code's name (needs its permission)."
    )
    auto_pay = serializers.BooleanField(required=False, help_text="Debit memos.")
    apply_to_invoice_on_post = serializers.BooleanField(required=False, help_text="Credit memos.")
    exclude_from_auto_apply = serializers.BooleanField(required=False, help_text="Credit memos.")
    comments = serializers.CharField(required=False, allow_blank=True, max_length=10_000)


class ItemAmountSerializer(serializers.Serializer):
    item = IdField(help_text="The invoice item's (or debit memo item's) id.")
    amount = NumberField()


class ApplyTargetSerializer(serializers.Serializer):
    invoice = serializers.CharField(required=False, max_length=32, help_text="An invoice number.")
    debit_memo = serializers.CharField(
        required=False, max_length=32, help_text="A debit memo number."
    )
    amount = NumberField(required=False, help_text="The header amount (or give items).")
    items = ItemAmountSerializer(many=True, required=False, help_text="Amounts per item.")

    def validate(self, data):
        if bool(data.get("invoice")) == bool(data.get("debit_memo")):
            raise ValidationError("Name either an invoice or a debit memo.")
        if ("amount" in data) == bool(data.get("items")):
            raise ValidationError("Give either an amount or amounts per item.")
        return data


class ApplySerializer(serializers.Serializer):
    effective_date = serializers.DateField(
        required=False, help_text="Default: today, or the memo date if later."
    )
    targets = ApplyTargetSerializer(many=True, allow_empty=False, max_length=500)


class UnapplySerializer(serializers.Serializer):
    amount = NumberField(required=False, help_text="Default: what is still applied.")
    effective_date = serializers.DateField(
        required=False, help_text="Default: today, or the application's date if later."
    )


class RefundBodySerializer(serializers.Serializer):
    amount = NumberField()
    method = serializers.ChoiceField(choices=RefundMethod.choices)
    refund_date = serializers.DateField(
        required=False, help_text="Default: today, or the memo date if later."
    )
    reason_code = serializers.CharField(
        required=False,
        max_length=100,
        help_text="A refund reason code's name. Default: the default code.",
    )
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)


class TransferSerializer(serializers.Serializer):
    transferred_to_accounting = serializers.ChoiceField(choices=TransferStatus.choices)


class BulkTransferSerializer(serializers.Serializer):
    numbers = serializers.ListField(
        child=serializers.CharField(max_length=64),
        allow_empty=False,
        max_length=BULK_TRANSFER_LIMIT,
        help_text="Memo numbers.",
    )
    transferred_to_accounting = serializers.ChoiceField(choices=BULK_TRANSFER_VALUES)


class BulkTransferOutcomeSerializer(serializers.Serializer):
    """Per memo, not all or nothing (memos/services/transfer.py): which changed, and why each
    of the others did not."""

    changed = serializers.ListField(child=serializers.CharField())
    already = serializers.ListField(child=serializers.CharField())
    needs_override = serializers.ListField(child=serializers.CharField())
    not_posted = serializers.ListField(child=serializers.CharField())
    not_found = serializers.ListField(child=serializers.CharField())
    refused = serializers.ListField(child=serializers.CharField())


def later_of_today_and(day: dt.date) -> dt.date:
    return max(timezone.localdate(), day)


# --- approvals (DOMAIN.md 8) ----------------------------------------------------------------


class ApproveSerializer(serializers.Serializer):
    comment = serializers.CharField(
        required=False, allow_blank=True, max_length=approvals.REASON_MAX_LENGTH
    )


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=approvals.REASON_MAX_LENGTH)
