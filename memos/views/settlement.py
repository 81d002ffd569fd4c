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
from billing.money import ZERO, money_label, parse_number
from billing.permissions import PermissionMixin
from memos.forms.settlement import (
    ApplyForm,
    ApplyRowForm,
    OpenDocument,
    RefundForm,
)
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


def open_documents(memo: Memo) -> list[OpenDocument]:
    """The account's posted invoices and debit memos with a balance in the memo's currency,
    with their open items, oldest due first (a debit memo is due on its memo date): four
    queries, whatever their number."""
    open_items = Prefetch(
        "items", queryset=InvoiceItem.objects.filter(balance__gt=0).order_by("sort_order", "id")
    )
    invoices = Invoice.objects.filter(
        account=memo.account, currency=memo.currency, status=InvoiceStatus.POSTED, balance__gt=0
    ).prefetch_related(open_items)
    open_memo_items = Prefetch(
        "items", queryset=MemoItem.objects.filter(balance__gt=0).order_by("sort_order", "id")
    )
    debit_memos = Memo.objects.filter(
        account=memo.account,
        currency=memo.currency,
        memo_type=MemoType.DEBIT,
        status=MemoStatus.POSTED,
        balance__gt=0,
    ).prefetch_related(open_memo_items)
    rows = [
        OpenDocument(f"invoice-{i.pk}", i, "Invoice", i.due_date, list(i.items.all()))
        for i in invoices
    ]
    rows += [
        OpenDocument(f"debit-{m.pk}", m, "Debit memo", m.memo_date, list(m.items.all()))
        for m in debit_memos
    ]
    return sorted(rows, key=lambda row: (row.date, row.doc.number))


class ApplyCreditMemoView(PermissionMixin, View):
    """/memos/<number>/apply/: the account's open invoices and debit memos, an amount per target
    (or per item), an effective date, and the unapplied amount left updating as one types.

    Besides saving, a POST answers the page's live parts (htmx): `preview` (the totals),
    `apply_max=<row key>` (that row filled with the most it can take, and the totals) and
    `search` (the rows narrowed to those matching `q`, what was typed kept).
    """

    permission_required = perms.SETTLE_CREDIT_MEMO
    template_name = "memos/memo_apply.html"

    def get(self, request, number):
        memo = credit_memo_or_404(number)
        if memo.status != MemoStatus.POSTED or memo.unapplied_amount <= 0:
            messages.error(
                request,
                f"{memo.number} has nothing to apply: it is not posted or fully settled.",
            )
            return redirect(memo)
        effective = max(timezone.localdate(), memo.memo_date)
        form = ApplyForm(
            memo=memo, rows=open_documents(memo), initial={"effective_date": effective}
        )
        return self.render(form, query=request.GET.get("q", ""))

    def post(self, request, number):
        memo = credit_memo_or_404(number)
        form = ApplyForm(request.POST, memo=memo, rows=open_documents(memo))
        query = request.POST.get("q", "")
        form.is_valid()
        if request.POST.get("search"):
            return self.render(form, query=query, partial="search")
        if (row := form.row(request.POST.get("apply_max", ""))) is not None:
            return self.apply_max(form, row, query)
        if request.POST.get("preview"):
            return self.render(form, query=query, partial="preview")
        if form.is_valid() and (response := self.save(form)):
            return response
        return self.render(form, query=query)

    def save(self, form: ApplyForm) -> HttpResponse | None:
        """Apply what the form holds: a redirect to the memo with a message, or None with the
        service's refusal put beside what it is about."""
        memo = form.memo
        try:
            applications = settlement.apply_credit_memo(
                credit_memo=memo,
                targets=form.targets(),
                effective_date=form.cleaned_data["effective_date"],
                actor=self.request.user,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
            return None
        applied = sum((a.amount for a in applications), ZERO)
        names = ", ".join(
            a.invoice.number if a.invoice_id else a.debit_memo.number for a in applications
        )
        messages.success(
            self.request,
            f"Applied {money_label(applied, memo.currency)} of {memo.number} to {names}.",
        )
        return go_to(self.request, memo.get_absolute_url())

    def apply_max(self, form: ApplyForm, row: ApplyRowForm, query: str) -> HttpResponse:
        form = form.filled_to_max(row.row.key)
        form.is_valid()
        return self.render(form, query=query, partial="apply_max", filled=row.row.key)

    def render(self, form: ApplyForm, *, query="", partial=None, filled=None):
        memo = form.memo
        shown = form.shown_rows(query)
        context = {
            "memo": memo,
            "cur": memo.currency,
            "form": form,
            "query": query,
            "shown": {row.row.key for row in shown},
            "shown_count": len(shown),
            "filled": form.row(filled) if filled else None,
        }
        # A live part answers htmx only: a plain POST (no script) gets the whole page.
        partial = partial if self.request.htmx else None
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
