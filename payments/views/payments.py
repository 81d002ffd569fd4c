"""Payments pages (DOMAIN.md 6): the list with its CSV export, one payment with its applications
and history, "Record payment" (from an account or an invoice), cancel and unapply."""

from __future__ import annotations

import csv
import io

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views import View
from django.views.generic import DetailView

from billing import permissions as perms
from billing.bill_run_views import go_to
from billing.listing import FilteredListView
from billing.models import Invoice
from billing.money import format_money
from billing.permissions import PermissionMixin
from memos.models import Memo
from memos.services.settlement import ApplicationTarget
from memos.views.export import spreadsheet_safe
from payments.filters import PaymentFilterSet
from payments.forms import ApplyPaymentForm, RecordPaymentForm
from payments.models import Payment, PaymentApplication, PaymentStatus
from payments.services.settlement import (
    apply_payment,
    cancel_payment,
    record_payment,
    unapply_payment,
)


class PaymentListView(FilteredListView):
    permission_required = perms.VIEW_PAYMENTS
    template_name = "payments/payment_list.html"
    filterset_class = PaymentFilterSet
    sort_fields = {
        "number": "Payment Number",
        "payment_date": "Payment Date",
        "amount": "Amount",
    }
    sort_columns = {"amount": ("currency", "amount")}
    default_sort = "-payment_date"

    def get_queryset(self):
        return Payment.objects.select_related("account", "currency", "payment_run")


EXPORT_COLUMNS = [
    "Number", "Customer Account", "Account Name", "Payment Date", "Method", "Status",
    "Currency", "Amount", "Applied Amount", "Unapplied Amount", "Reference",
    "Gateway Reference", "Gateway Message", "Payment Run",
]  # fmt: skip


class PaymentExportView(PaymentListView):
    """Exactly what the list's filters show, as CSV, in the list's order, streamed."""

    def get(self, request, *args, **kwargs):
        filterset = self.get_filterset()
        if filterset.is_bound and not filterset.is_valid():
            return HttpResponse(
                "The filters are not valid: " + filterset.form.errors.as_text(),
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        queryset = filterset.qs.order_by(*self.get_ordering(filterset.qs))
        response = StreamingHttpResponse(self.rows(queryset), content_type="text/csv")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="payments-{stamp}.csv"'
        return response

    def rows(self, queryset):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        for payment in queryset.iterator(chunk_size=2000):
            cur = payment.currency
            writer.writerow(
                [
                    payment.number,
                    payment.account.number,
                    spreadsheet_safe(payment.account.name),
                    payment.payment_date.isoformat(),
                    payment.get_method_display(),
                    payment.get_status_display(),
                    payment.currency_id,
                    format_money(payment.amount, cur).replace(",", ""),
                    format_money(payment.applied_amount, cur).replace(",", ""),
                    format_money(payment.unapplied_amount, cur).replace(",", ""),
                    spreadsheet_safe(payment.reference),
                    spreadsheet_safe(payment.gateway_reference),
                    spreadsheet_safe(payment.gateway_message),
                    payment.payment_run.number if payment.payment_run else "",
                ]
            )
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()


class PaymentDetailView(PermissionMixin, DetailView):
    permission_required = perms.VIEW_PAYMENTS
    template_name = "payments/payment_detail.html"
    context_object_name = "payment"
    slug_field = "number"
    slug_url_kwarg = "number"

    def get_queryset(self):
        return Payment.objects.select_related(
            "account", "currency", "payment_method", "payment_run", "created_by"
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        payment = self.object
        applications = list(
            payment.applications.select_related("invoice", "debit_memo", "created_by").order_by(
                "created_at", "id"
            )
        )
        undone = {}
        for a in applications:
            if a.undoes_id:
                undone[a.undoes_id] = undone.get(a.undoes_id, 0) + a.amount
        for a in applications:
            a.remaining = a.amount - undone.get(a.pk, 0) if a.kind == "apply" else None
        manage = self.request.user.has_perm(perms.MANAGE_PAYMENTS)
        context.update(
            applications=applications,
            events=payment.events.select_related("actor").order_by("at", "id"),
            can_cancel=manage
            and payment.status == PaymentStatus.PROCESSED
            and not payment.applied_amount,
            can_unapply=manage and payment.status == PaymentStatus.PROCESSED,
            today=timezone.localdate(),
            apply_form=kwargs.get("apply_form") or ApplyPaymentForm(payment=payment),
            can_apply=manage
            and payment.status == PaymentStatus.PROCESSED
            and payment.unapplied_amount > 0,
        )
        return context


class RecordPaymentView(PermissionMixin, View):
    """/payments/new/?account=A00000001 (from an account) or ?invoice=INV00000001 (from an
    invoice: the account, the amount and the document to apply to filled in)."""

    permission_required = perms.MANAGE_PAYMENTS
    template_name = "payments/payment_new.html"

    def get(self, request, *args, **kwargs):
        initial = {}
        invoice_number = request.GET.get("invoice", "")
        account_number = request.GET.get("account", "")
        document = None
        if invoice_number:
            document = (
                Invoice.objects.filter(number=invoice_number).select_related("account").first()
                or Memo.objects.filter(number=invoice_number).select_related("account").first()
            )
        if document is not None:
            initial = {
                "account": document.account.number,
                "apply_to": document.number,
                "amount": format_money(document.balance, document.currency).replace(",", ""),
            }
        elif account_number:
            initial = {"account": account_number}
        return self.render(RecordPaymentForm(initial=initial))

    def post(self, request, *args, **kwargs):
        form = RecordPaymentForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            targets = []
            document = data["document"]
            if document is not None:
                amount = data["apply_amount"].strip() or None
                targets = [
                    ApplicationTarget(
                        invoice=document if isinstance(document, Invoice) else None,
                        debit_memo=None if isinstance(document, Invoice) else document,
                        amount=amount,
                        key="apply_amount",
                    )
                ]
            try:
                if targets and targets[0].amount is None:
                    targets = [self.default_target(targets[0], data)]
                payment = record_payment(
                    account=data["account"],
                    amount=data["amount"],
                    payment_date=data["payment_date"],
                    method=data["method"],
                    reference=data["reference"],
                    comment=data["comment"],
                    targets=targets,
                    actor=request.user,
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"{payment.number} was recorded.")
                return go_to(request, payment.get_absolute_url())
        return self.render(form)

    @staticmethod
    def default_target(target: ApplicationTarget, data) -> ApplicationTarget:
        """As much as the document's balance and the payment allow (an unparsable amount is
        the service's to refuse, with its message)."""
        from billing.money import validate_money

        try:
            amount = validate_money(data["amount"], data["account"].currency)
        except (ValidationError, TypeError):
            amount = data["amount"]
        else:
            amount = min(amount, target.document.balance)
        return ApplicationTarget(
            invoice=target.invoice, debit_memo=target.debit_memo, amount=amount, key=target.key
        )

    def render(self, form) -> HttpResponse:
        return TemplateResponse(self.request, self.template_name, {"form": form})


class PaymentActionView(PermissionMixin, View):
    http_method_names = ["post"]
    permission_required = perms.MANAGE_PAYMENTS

    def post(self, request, number: str, **kwargs) -> HttpResponse:
        payment = get_object_or_404(Payment, number=number)
        try:
            self.act(payment, **kwargs)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return go_to(request, payment.get_absolute_url())


class PaymentCancelView(PaymentActionView):
    def act(self, payment: Payment) -> None:
        cancel_payment(payment=payment, actor=self.request.user)
        messages.success(self.request, f"{payment.number} was canceled.")


class PaymentUnapplyView(PaymentActionView):
    """Unapply what is left of one application, effective today (or its own date if later)."""

    def act(self, payment: Payment, application_id: int) -> None:
        application = get_object_or_404(
            PaymentApplication, pk=application_id, payment=payment, kind="apply"
        )
        effective = max(timezone.localdate(), application.effective_date)
        unapply_payment(application=application, effective_date=effective, actor=self.request.user)
        messages.success(self.request, f"Unapplied from {application.target.number}.")


class PaymentApplyView(PermissionMixin, View):
    """POST /payments/<number>/apply/: the payment page's Apply form; errors re-render the
    page with them beside the fields."""

    http_method_names = ["post"]
    permission_required = perms.MANAGE_PAYMENTS

    def post(self, request, number: str) -> HttpResponse:
        payment = get_object_or_404(Payment, number=number)
        form = ApplyPaymentForm(request.POST, payment=payment)
        if form.is_valid():
            document = form.cleaned_data["document"]
            is_invoice = isinstance(document, Invoice)
            target = ApplicationTarget(
                invoice=document if is_invoice else None,
                debit_memo=None if is_invoice else document,
                amount=form.cleaned_data["amount"],
                key="amount",
            )
            try:
                apply_payment(
                    payment=payment,
                    targets=[target],
                    effective_date=form.cleaned_data["effective_date"],
                    actor=request.user,
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"{payment.number} was applied to {document.number}.")
                return go_to(request, payment.get_absolute_url())
        view = PaymentDetailView()
        view.setup(request, number=number)
        view.object = view.get_object()
        context = view.get_context_data(object=view.object, apply_form=form)
        return TemplateResponse(request, view.template_name, context)
