"""The memos resource of the REST API (/api/v1/memos/): the list with the UI's filters and
sorts, one memo with everything its page shows, creation from an invoice or from charges, and
post / unpost / cancel / delete. Every write calls the service the UI calls."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from api.base import ResourceViewSet, post_action
from api.errors import IdempotencyKeyReused
from api.fields import IdField, MoneyField, NumberField, NumberOf
from api.idempotency import created_or_replayed, idempotent, memo_key
from api.schema import ACTION_ERRORS, ERRORS, WRITE_ERRORS
from billing import permissions as perms
from billing.models import Account, Charge, Invoice
from billing.money import QUANTITY_COLUMN
from memos import services
from memos.filters import MemoFilterSet
from memos.forms.charges import ChargeRowForm
from memos.forms.common import tax_mode, typed_tax
from memos.models import Memo, MemoApplication, MemoType, ReasonCode, RefundMethod, TransferStatus
from memos.selectors import MEMO_SORTS, memo_page, memo_rows
from memos.services import idempotency, lifecycle, settlement
from memos.services.common import REASON_CODE_TYPE
from memos.services.transfer import BULK_TRANSFER_LIMIT, BULK_TRANSFER_VALUES, mark_transferred

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


# --- the resource ----------------------------------------------------------------------------


class MemoViewSet(ResourceViewSet):
    resource = "memos"
    filterset_class = MemoFilterSet
    sorts = MEMO_SORTS
    list_serializer = MemoSummarySerializer
    detail_serializer = MemoSerializer

    def list_queryset(self):
        return memo_rows()

    def detail_queryset(self):
        return memo_page()

    def target_queryset(self):
        return Memo.objects.select_related("account", "currency")

    @extend_schema(
        request=MemoFromInvoiceSerializer,
        responses={201: MemoSerializer, **WRITE_ERRORS},
        summary="Create a credit or debit memo from items of a posted invoice",
    )
    @action(detail=False, methods=["post"], url_path="from-invoice")
    def from_invoice(self, request):
        body = MemoFromInvoiceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        kwargs = body.service_kwargs()
        invoice = (
            Invoice.objects.select_related("account", "currency")
            .filter(number=data["invoice"])
            .first()
        )
        if invoice is None:
            raise ValidationError({"invoice": [f"No invoice {data['invoice']}."]})
        items = invoice.items.select_related("tax_code").in_bulk(
            {line["invoice_item"] for line in data["items"]}
        )
        auto_tax = kwargs["tax_auto_calculation"]
        lines, errors = [], {}
        for index, line in enumerate(data["items"]):
            item = items.get(line["invoice_item"])
            if item is None:
                errors[f"items.{index}.invoice_item"] = [
                    f"Invoice {invoice.number} has no item {line['invoice_item']}."
                ]
                continue
            lines.append(
                services.InvoiceItemLine(
                    invoice_item=item,
                    amount=line["amount"],
                    description=line["description"],
                    key=f"items.{index}",
                    **line_tax(line, auto_tax),
                )
            )
        if errors:
            raise ValidationError(errors)
        memo = self.create_memo(
            services.create_memo_from_invoice,
            invoice=invoice,
            lines=lines,
            apply_to_invoice_on_post=data["apply_to_invoice_on_post"],
            **kwargs,
        )
        return created_or_replayed(memo, self.answer(memo.number).data)

    @extend_schema(
        request=MemoFromChargesSerializer,
        responses={201: MemoSerializer, **WRITE_ERRORS},
        summary="Create a standalone credit or debit memo from catalog charges",
    )
    @action(detail=False, methods=["post"], url_path="from-charges")
    def from_charges(self, request):
        body = MemoFromChargesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        kwargs = body.service_kwargs()
        account = Account.objects.select_related("currency").filter(number=data["account"]).first()
        if account is None:
            raise ValidationError({"account": [f"No account {data['account']}."]})
        # The charges the create page offers (active, not discounts), in one query.
        offered = ChargeRowForm.base_fields["charge"].queryset.select_related("tax_code")
        charges: dict[int, Charge] = offered.in_bulk({line["charge"] for line in data["lines"]})
        auto_tax = kwargs["tax_auto_calculation"]
        lines, errors = [], {}
        for index, line in enumerate(data["lines"]):
            charge = charges.get(line["charge"])
            if charge is None:
                errors[f"lines.{index}.charge"] = [f"No active charge {line['charge']}."]
                continue
            lines.append(
                services.ChargeLine(
                    charge=charge,
                    amount=line["amount"],
                    quantity=line.get("quantity"),
                    service_start=line.get("service_start"),
                    service_end=line.get("service_end"),
                    description=line["description"],
                    key=f"lines.{index}",
                    **line_tax(line, auto_tax),
                )
            )
        if errors:
            raise ValidationError(errors)
        memo = self.create_memo(
            services.create_memo_from_charges, account=account, lines=lines, **kwargs
        )
        return created_or_replayed(memo, self.answer(memo.number).data)

    def create_memo(self, service, **kwargs) -> Memo:
        """Run a create service with the request's Idempotency-Key, as the UI's forms do."""
        try:
            return service(
                actor=self.request.user, idempotency_key=memo_key(self.request), **kwargs
            )
        except DjangoValidationError as exc:
            if idempotency.is_conflict(exc):
                raise IdempotencyKeyReused() from exc
            raise

    def run(self, service, number: str) -> Response:
        self.act(service, memo=self.get_object())
        return self.answer(number)

    @post_action(path="post", responses=MemoSerializer, summary="Post a draft memo")
    def post_memo(self, request, number: str):
        return self.run(lifecycle.post_memo, number)

    @post_action(path="unpost", responses=MemoSerializer, summary="Cancel the post of a memo")
    def unpost_memo(self, request, number: str):
        return self.run(lifecycle.unpost_memo, number)

    @post_action(path="cancel", responses=MemoSerializer, summary="Cancel a draft memo")
    def cancel_memo(self, request, number: str):
        return self.run(lifecycle.cancel_memo, number)

    @extend_schema(responses={204: None, **ACTION_ERRORS})
    @idempotent
    def destroy(self, request, number: str):
        self.act(lifecycle.delete_memo, memo=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- edit, tax, settlement, transfer (the memo page's buttons) ---------------------------

    @extend_schema(
        request=MemoEditSerializer,
        responses={200: MemoSerializer, **WRITE_ERRORS, 404: ERRORS},
        summary="Edit a memo's header",
    )
    def partial_update(self, request, number: str):
        body = MemoEditSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        memo = self.get_object()
        may_change = request.user.has_perm(perms.CHANGE_REASON_CODE)
        if data.get("reason_code"):
            if not may_change:
                raise PermissionDenied("Changing the reason code needs its own permission.")
            data["reason_code"] = reason_code_named(memo.memo_type, data["reason_code"])
        self.act(
            lifecycle.update_memo_header,
            takes_input=True,
            memo=memo,
            may_change_reason_code=may_change,
            **data,
        )
        return self.answer(number)

    @post_action(path="recalculate-tax", responses=MemoSerializer, summary="Recalculate tax")
    def recalculate_tax(self, request, number: str):
        return self.run(services.recalculate_tax, number)

    @post_action(
        path="apply",
        request=ApplySerializer,
        responses=MemoSerializer,
        summary="Apply a posted credit memo to invoices and debit memos",
    )
    def apply(self, request, number: str):
        body = ApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        memo = self.get_object()
        targets = self.application_targets(memo, body.validated_data["targets"])
        effective = body.validated_data.get("effective_date") or later_of_today_and(memo.memo_date)
        self.act(
            settlement.apply_credit_memo,
            takes_input=True,
            credit_memo=memo,
            targets=targets,
            effective_date=effective,
        )
        return self.answer(number)

    def application_targets(self, memo: Memo, rows: list[dict]) -> list:
        """The documents named by number, each read once (two queries, however many)."""
        invoices = Invoice.objects.in_bulk(
            [row["invoice"] for row in rows if row.get("invoice")], field_name="number"
        )
        debit_memos = Memo.objects.filter(memo_type=MemoType.DEBIT).in_bulk(
            [row["debit_memo"] for row in rows if row.get("debit_memo")], field_name="number"
        )
        targets, errors = [], {}
        for index, row in enumerate(rows):
            key = f"targets.{index}"
            invoice = invoices.get(row.get("invoice"))
            debit_memo = debit_memos.get(row.get("debit_memo"))
            if invoice is None and debit_memo is None:
                field = "invoice" if row.get("invoice") else "debit_memo"
                errors[f"{key}.{field}"] = [f"No {field.replace('_', ' ')} {row.get(field)}."]
                continue
            targets.append(
                settlement.ApplicationTarget(
                    invoice=invoice,
                    debit_memo=debit_memo,
                    amount=row.get("amount"),
                    item_amounts={i["item"]: i["amount"] for i in row.get("items") or []},
                    key=key,
                )
            )
        if errors:
            raise ValidationError(errors)
        return targets

    @post_action(
        path=r"applications/(?P<application_id>[0-9]{1,18})/unapply",
        name="unapply",
        request=UnapplySerializer,
        responses=MemoSerializer,
        summary="Unapply (part of) one application",
    )
    def unapply(self, request, number: str, application_id: str):
        body = UnapplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        memo = self.get_object()
        application = get_object_or_404(MemoApplication, pk=int(application_id), credit_memo=memo)
        self.act(
            settlement.unapply_credit_memo,
            takes_input=True,
            application=application,
            amount=body.validated_data.get("amount"),
            effective_date=body.validated_data.get("effective_date")
            or later_of_today_and(application.effective_date),
        )
        return self.answer(number)

    @post_action(
        path="refund",
        request=RefundBodySerializer,
        responses=MemoSerializer,
        summary="Refund (part of) a credit memo's unapplied amount",
    )
    def refund(self, request, number: str):
        body = RefundBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        memo = self.get_object()
        if data.get("reason_code"):
            data["reason_code"] = reason_code_named("refund", data["reason_code"])
        else:
            data["reason_code"] = ReasonCode.objects.filter(
                code_type="refund", is_default=True, active=True
            ).first()
        data.setdefault("refund_date", later_of_today_and(memo.memo_date))
        self.act(settlement.refund_credit_memo, takes_input=True, credit_memo=memo, **data)
        return self.answer(number)

    @post_action(
        path="reverse", name="reverse", responses=MemoSerializer, summary="Reverse a credit memo"
    )
    def reverse_memo(self, request, number: str):
        self.act(settlement.reverse_credit_memo, credit_memo=self.get_object())
        return self.answer(number)

    @post_action(
        path="write-off",
        name="write_off",
        responses=MemoSerializer,
        summary="Write off a credit memo",
    )
    def write_off_memo(self, request, number: str):
        self.act(settlement.write_off_credit_memo, credit_memo=self.get_object())
        return self.answer(number)

    @post_action(
        path="transferred-to-accounting",
        name="transfer",
        request=TransferSerializer,
        responses=MemoSerializer,
        summary="Change Transferred to Accounting",
    )
    def transfer(self, request, number: str):
        body = TransferSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.act(
            lifecycle.set_transferred_to_accounting,
            memo=self.get_object(),
            value=body.validated_data["transferred_to_accounting"],
            may_override=request.user.has_perm(perms.OVERRIDE_TRANSFER),
        )
        return self.answer(number)

    @post_action(
        detail=False,
        path="transferred-to-accounting",
        name="bulk_transfer",
        operation_id="memos_bulk_transfer",
        request=BulkTransferSerializer,
        responses=BulkTransferOutcomeSerializer,
        summary="Mark many memos Transferred to Accounting (per memo, not all or nothing)",
    )
    def bulk_transfer(self, request):
        body = BulkTransferSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        numbers = list(dict.fromkeys(n.strip() for n in body.validated_data["numbers"]))
        outcome = mark_transferred(
            numbers=[n for n in numbers if n],
            value=body.validated_data["transferred_to_accounting"],
            actor=request.user,
            may_override=request.user.has_perm(perms.OVERRIDE_TRANSFER),
        )
        return Response(BulkTransferOutcomeSerializer(outcome).data)
