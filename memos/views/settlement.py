"""Settling a posted credit memo from its page: apply, unapply, refund, reverse, write off."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views import View

from billing import permissions as perms
from billing.models import Invoice, InvoiceItem, InvoiceStatus
from billing.money import MONEY_COLUMN, ZERO, check_fits, money_label, parse_number
from billing.permissions import PermissionMixin
from memos.forms.settlement import RefundForm
from memos.models import (
    Memo,
    MemoApplication,
    MemoItem,
    MemoStatus,
    MemoType,
    ReasonCode,
)
from memos.services import settlement
from memos.views.actions import go_to


def credit_memo_or_404(number: str) -> Memo:
    return get_object_or_404(
        Memo.objects.select_related("account", "currency"), number=number, memo_type=MemoType.CREDIT
    )


def parse_amount(raw: str | None) -> Decimal | None:
    """A typed amount: None when empty, else its Decimal (thousands separators allowed); raises
    ValidationError, saying why, for what is not a plain number (billing.money.parse_number)."""
    raw = (raw or "").strip().replace(",", "")
    if not raw:
        return None
    return parse_number(raw)


def countable(value: Decimal, currency) -> Decimal:
    """What a typed amount adds to the running total: nothing when it is wider than the money
    columns, which the service then refuses beside its row (summing or formatting such a value
    could raise InvalidOperation instead)."""
    try:
        return check_fits(value, MONEY_COLUMN, places=currency.minor_unit)
    except ValidationError:
        return ZERO


class ApplyCreditMemoView(PermissionMixin, View):
    """/memos/<number>/apply/: the account's open invoices and debit memos, an amount per target
    (or per item), an effective date, and the unapplied amount left updating as one types."""

    permission_required = perms.SETTLE_CREDIT_MEMO
    template_name = "memos/memo_apply.html"

    def targets(self, memo: Memo) -> list[dict]:
        invoices = (
            Invoice.objects.filter(
                account=memo.account,
                currency=memo.currency,
                status=InvoiceStatus.POSTED,
                balance__gt=0,
            )
            .prefetch_related(
                Prefetch(
                    "items",
                    queryset=InvoiceItem.objects.filter(balance__gt=0).order_by("sort_order", "id"),
                )
            )
            .order_by("due_date", "number")
        )
        debit_memos = (
            Memo.objects.filter(
                account=memo.account,
                currency=memo.currency,
                memo_type=MemoType.DEBIT,
                status=MemoStatus.POSTED,
                balance__gt=0,
            )
            .prefetch_related(
                Prefetch(
                    "items",
                    queryset=MemoItem.objects.filter(balance__gt=0).order_by("sort_order", "id"),
                )
            )
            .order_by("memo_date", "number")
        )
        rows = [
            {"key": f"invoice-{i.pk}", "doc": i, "kind": "Invoice", "date": i.due_date}
            for i in invoices
        ]
        rows += [
            {"key": f"debit-{m.pk}", "doc": m, "kind": "Debit memo", "date": m.memo_date}
            for m in debit_memos
        ]
        return rows

    def get(self, request, number):
        memo = credit_memo_or_404(number)
        if memo.status != MemoStatus.POSTED or memo.unapplied_amount <= 0:
            messages.error(
                request,
                f"{memo.number} has nothing to apply: it is not posted or fully settled.",
            )
            return redirect(memo)
        effective = max(timezone.localdate(), memo.memo_date)
        return self.render(memo, self.targets(memo), {"effective_date": effective.isoformat()})

    def post(self, request, number):
        memo = credit_memo_or_404(number)
        rows = self.targets(memo)
        data = request.POST
        chosen, errors, total = [], {}, ZERO
        for row in rows:
            key = row["key"]
            row["typed"] = data.get(f"{key}-amount", "")
            row["typed_items"] = {
                item.pk: data.get(f"{key}-item-{item.pk}", "") for item in row["doc"].items.all()
            }
            try:
                header = parse_amount(row["typed"])
                items = {
                    pk: value
                    for pk, typed in row["typed_items"].items()
                    if (value := parse_amount(typed)) is not None
                }
            except ValidationError as exc:
                errors[key] = exc.messages
                continue
            if header is None and not items:
                continue
            doc = row["doc"]
            target = settlement.ApplicationTarget(
                invoice=doc if isinstance(doc, Invoice) else None,
                debit_memo=doc if isinstance(doc, Memo) else None,
                amount=None if items else header,
                item_amounts=items,
                key=key,
            )
            chosen.append(target)
            typed = items.values() if items else [header]
            total += sum((countable(value, memo.currency) for value in typed), ZERO)
        date_errors = []
        try:
            effective = (
                forms.DateField().clean(data.get("effective_date"))
                if data.get("effective_date")
                else None
            )
        except ValidationError as exc:  # a date the browser let through, or a hand-made POST
            effective, date_errors = None, exc.messages
        context = {"effective_date": data.get("effective_date", ""), "total": total}
        if data.get("preview"):
            return self.render(memo, rows, context, errors=errors, partial="remaining")
        if not chosen and not errors:
            errors["__all__"] = ["Enter an amount for at least one invoice or debit memo."]
        if effective is None:
            errors["effective_date"] = date_errors or ["Enter the effective date."]
        if not errors:
            try:
                applications = settlement.apply_credit_memo(
                    credit_memo=memo, targets=chosen, effective_date=effective, actor=request.user
                )
            except ValidationError as exc:
                errors = (
                    exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
                )
            else:
                applied = sum((a.amount for a in applications), ZERO)
                names = ", ".join(
                    a.invoice.number if a.invoice_id else a.debit_memo.number for a in applications
                )
                messages.success(
                    request,
                    f"Applied {money_label(applied, memo.currency)} of {memo.number} to {names}.",
                )
                return go_to(request, memo.get_absolute_url())
        return self.render(memo, rows, context, errors=errors)

    def render(self, memo, rows, context, *, errors=None, partial=None) -> HttpResponse:
        errors = errors or {}
        for row in rows:
            row["errors"] = errors.get(row["key"], [])
        total = context.get("total", ZERO)
        context.update(
            memo=memo,
            cur=memo.currency,
            rows=rows,
            page_errors=errors.get("__all__", []),
            date_errors=errors.get("effective_date", []),
            remaining=memo.unapplied_amount - total,
            over=total > memo.unapplied_amount,
        )
        template = f"{self.template_name}#{partial}" if partial else self.template_name
        response = TemplateResponse(self.request, template, context)
        patch_vary_headers(response, ("HX-Request",))
        return response


class UnapplyView(PermissionMixin, View):
    """Unapply (part of) one application, from the memo's applications table."""

    http_method_names = ["post"]
    permission_required = perms.SETTLE_CREDIT_MEMO

    def post(self, request, number, application_id):
        memo = credit_memo_or_404(number)
        application = get_object_or_404(MemoApplication, pk=application_id, credit_memo=memo)
        try:
            amount = parse_amount(request.POST.get("amount"))
            effective = forms.DateField().clean(request.POST.get("effective_date"))
            undone = settlement.unapply_credit_memo(
                application=application,
                amount=amount,
                effective_date=effective,
                actor=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            target = application.invoice or application.debit_memo
            messages.success(
                request,
                f"Unapplied {money_label(undone.amount, memo.currency)} from {target.number}.",
            )
        return go_to(request, memo.get_absolute_url())


class RefundCreditMemoView(PermissionMixin, View):
    """/memos/<number>/refund/: refund (part of) the unapplied amount externally."""

    permission_required = perms.SETTLE_CREDIT_MEMO
    template_name = "memos/memo_refund.html"

    def get(self, request, number):
        memo = credit_memo_or_404(number)
        if memo.status != MemoStatus.POSTED or memo.unapplied_amount <= 0:
            messages.error(request, f"{memo.number} has nothing to refund.")
            return redirect(memo)
        initial = {
            "amount": memo.unapplied_amount.quantize(Decimal(1).scaleb(-memo.currency.minor_unit)),
            "refund_date": max(timezone.localdate(), memo.memo_date),
            "reason_code": ReasonCode.objects.filter(code_type="refund", is_default=True).first(),
        }
        return self.render(memo, RefundForm(initial=initial))

    def post(self, request, number):
        memo = credit_memo_or_404(number)
        form = RefundForm(request.POST)
        if form.is_valid():
            try:
                refund = settlement.refund_credit_memo(
                    credit_memo=memo, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                for field, errors in getattr(
                    exc, "message_dict", {"__all__": exc.messages}
                ).items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(
                    request,
                    f"Refunded {money_label(refund.amount, memo.currency)} of {memo.number} "
                    f"by {refund.get_method_display()} ({refund.number}).",
                )
                return go_to(request, memo.get_absolute_url())
        return self.render(memo, form)

    def render(self, memo, form):
        return TemplateResponse(
            self.request, self.template_name, {"memo": memo, "cur": memo.currency, "form": form}
        )


class ReverseCreditMemoView(PermissionMixin, View):
    """Reverse (or write off) a posted credit memo with nothing applied: confirmed in a dialog."""

    http_method_names = ["post"]
    permission_required = perms.REVERSE_CREDIT_MEMO
    service = staticmethod(settlement.reverse_credit_memo)
    verb = "reversed"

    def post(self, request, number):
        memo = credit_memo_or_404(number)
        try:
            debit = type(self).service(credit_memo=memo, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                f"{memo.number} was {self.verb}: debit memo {debit.number} of "
                f"{money_label(debit.amount, memo.currency)} was posted and the credit "
                "applied to it.",
            )
        return go_to(request, memo.get_absolute_url())


class WriteOffCreditMemoView(ReverseCreditMemoView):
    service = staticmethod(settlement.write_off_credit_memo)
    verb = "written off"
