"""The memos resource of the REST API (/api/v1/memos/): the list with the UI's filters and
sorts, one memo with everything its page shows, creation from an invoice or from charges, and
the memo page's buttons: post, unpost, cancel, delete, edit the header, recalculate tax, apply,
unapply, refund, reverse, write off, Transferred to Accounting (one memo and in bulk). Every
write calls the service the UI calls, with the permission of the UI's button."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from api.base import ResourceViewSet, post_action
from api.errors import IdempotencyKeyReused
from api.idempotency import created_or_replayed, idempotent, memo_key
from api.schema import ACTION_ERRORS, ERRORS, WRITE_ERRORS
from billing import permissions as perms
from billing.models import Account, Charge, Invoice
from memos import services
from memos.api.serializers import (
    ApplySerializer,
    ApproveSerializer,
    BulkTransferOutcomeSerializer,
    BulkTransferSerializer,
    MemoEditSerializer,
    MemoFromChargesSerializer,
    MemoFromInvoiceSerializer,
    MemoSerializer,
    MemoSummarySerializer,
    RefundBodySerializer,
    RejectSerializer,
    TransferSerializer,
    UnapplySerializer,
    later_of_today_and,
    line_tax,
    reason_code_named,
)
from memos.filters import MemoFilterSet
from memos.forms.charges import ChargeRowForm
from memos.models import Memo, MemoApplication, MemoType, ReasonCode
from memos.selectors import MEMO_SORTS, memo_page, memo_rows
from memos.services import approvals, idempotency, lifecycle, settlement
from memos.services.transfer import mark_transferred

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

    def run(self, service, number: str, **kwargs) -> Response:
        self.act(service, memo=self.get_object(), **kwargs)
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

    # --- approvals (DOMAIN.md 8): the creator and the submitter are refused (403) ------------

    @post_action(path="submit", responses=MemoSerializer, summary="Submit a memo for approval")
    def submit_memo(self, request, number: str):
        return self.run(approvals.submit_memo_for_approval, number)

    @post_action(
        path="approve",
        request=ApproveSerializer,
        responses=MemoSerializer,
        summary="Approve a memo awaiting approval (posts it)",
    )
    def approve_memo(self, request, number: str):
        body = ApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self.run(
            approvals.approve_memo, number, comment=body.validated_data.get("comment", "")
        )

    @post_action(
        path="reject",
        request=RejectSerializer,
        responses=MemoSerializer,
        summary="Reject a memo awaiting approval (back to Draft)",
    )
    def reject_memo(self, request, number: str):
        body = RejectSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self.run(approvals.reject_memo, number, reason=body.validated_data["reason"])

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
