"""The create page for a memo from an invoice (DOMAIN.md 2.2)."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers
from django.views import View

from billing import permissions as perms
from billing import tax
from billing.models import Invoice, InvoiceStatus
from billing.money import round_money
from billing.permissions import PermissionMixin
from memos import services
from memos.forms import InvoiceRowForm, MemoHeaderForm
from memos.forms.common import tax_mode, typed_tax
from memos.models import MemoType
from memos.services.availability import (
    Available,
    Requested,
    available_on,
    available_to_credit,
    check_available_to_credit,
)
from memos.views.creation import (
    Row,
    auto_tax_from,
    memo_type_from,
    respond_created,
    spread_errors,
    step_for,
    totals,
    wants_post,
    without,
)


class MemoFromInvoiceCreateView(PermissionMixin, View):
    """/invoices/<number>/memos/new/?type=credit|debit (DOMAIN.md 2.2)."""

    permission_required = perms.CREATE_MEMO_FROM_INVOICE
    template_name = "memos/memo_from_invoice.html"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.memo_type = memo_type_from(request)

    def get_invoice(self) -> Invoice:
        return get_object_or_404(
            Invoice.objects.select_related("account", "currency"), number=self.kwargs["number"]
        )

    def build(self, invoice: Invoice, data=None) -> tuple[MemoHeaderForm, dict[str, Row]]:
        header = MemoHeaderForm(
            data, memo_type=self.memo_type, from_invoice=True, min_date=invoice.invoice_date
        )
        items = list(invoice.items.select_related("tax_code").order_by("sort_order", "id"))
        rows = {}
        if data is not None:
            # A submitted form has no use for the defaults; what is available is read when the
            # page is shown again (`render`), and checked by the service under the lock.
            for item in items:
                key = f"item:{item.pk}"
                form = InvoiceRowForm(data, prefix=f"item-{item.pk}")
                rows[key] = Row(key=key, form=form, invoice_item=item)
            return header, rows
        available = available_to_credit(items) if self.memo_type == MemoType.CREDIT else {}
        for item in items:
            key = f"item:{item.pk}"
            left = available.get(item.pk)
            amount = self.default_amount(item, left)
            form = InvoiceRowForm(
                prefix=f"item-{item.pk}",
                initial={"selected": amount is not None, "amount": amount},
            )
            rows[key] = Row(key=key, form=form, invoice_item=item, available=left)
        return header, rows

    def default_amount(self, item, available: Available | None) -> Decimal | None:
        """What a row offers before anything is typed: its amount without tax (tax-exclusive is
        the default mode), in the currency's places. A credit offers what is left on the item,
        a debit the item; a negative item is mirrored by a negative line. None: the row is not
        selected (nothing left, or only tax left, which the operator types on purpose)."""
        currency = item.invoice.currency
        if available is None:
            net = item.amount_excl_tax
        elif available.nothing_left:
            return None
        else:
            net = available.net
        return round_money(net, currency) if net else None

    def get(self, request, *args, **kwargs):
        invoice = self.get_invoice()
        if invoice.status != InvoiceStatus.POSTED:
            messages.error(
                request,
                f"Invoice {invoice.number} is {invoice.get_status_display()}: "
                + "memos can only be created from posted invoices.",
            )
            return redirect(invoice)
        header, rows = self.build(invoice)
        return self.render(invoice, header, rows, preview=self.preview(invoice, header, rows))

    def post(self, request, *args, **kwargs):
        invoice = self.get_invoice()
        header, rows = self.build(invoice, request.POST)
        if request.POST.get("preview"):
            return self.render(
                invoice,
                header,
                rows,
                partial="preview",
                preview=self.preview(invoice, header, rows),
            )
        post = wants_post(request)
        page_errors: list[str] = []
        if header.is_valid() and all(row.form.is_valid() for row in rows.values()):
            try:
                memo = services.create_memo_from_invoice(
                    invoice=invoice,
                    memo_type=self.memo_type,
                    lines=self.lines(rows, header.cleaned_data["tax_auto_calculation"]),
                    actor=request.user,
                    **header.service_kwargs(),
                )
            except ValidationError as exc:
                page_errors = spread_errors(exc, header, rows)
            else:
                return respond_created(request, memo, post=post)
        return self.render(
            invoice,
            header,
            rows,
            page_errors=page_errors,
            preview=self.preview(invoice, header, rows),
        )

    def lines(self, rows: dict[str, Row], auto_tax: bool) -> list[services.InvoiceItemLine]:
        lines = []
        for row in rows.values():
            data = row.form.cleaned_data
            if not data.get("selected"):
                continue
            lines.append(
                services.InvoiceItemLine(
                    invoice_item=row.invoice_item,
                    amount=data["amount"],
                    tax_mode=tax_mode(data, auto_tax),
                    tax_amount=typed_tax(data, auto_tax),
                    description=data.get("description", ""),
                    key=row.key,
                )
            )
        return lines

    def preview(self, invoice: Invoice, header: MemoHeaderForm, rows: dict[str, Row]) -> dict:
        """Price every selected row as the service would, and total the rows that are valid."""
        auto_tax = auto_tax_from(header)
        engine_taxes = services.taxed_by_third_party_engine(auto_tax)
        rates = tax.RateBook(invoice.invoice_date)  # every row's rate from one query
        credit = self.memo_type == MemoType.CREDIT
        available = available_on(invoice) if credit else {}
        requested: dict[int, Requested] = {}
        for row in rows.values():
            data = row.values()
            if data is None or not data.get("selected") or data.get("amount") is None:
                continue
            item = row.invoice_item
            try:
                priced = services.price_invoice_item_line(
                    item_amount=item.amount,
                    available=available.get(item.pk),
                    amount=data["amount"],
                    currency=invoice.currency,
                    tax_code=item.tax_code,
                    tax_mode=tax_mode(data, auto_tax),
                    day=invoice.invoice_date,
                    tax_auto_calculation=auto_tax,
                    typed_tax=typed_tax(data, auto_tax),
                    built_in_tax=not engine_taxes,
                    rates=rates,
                )
            except ValidationError as exc:
                row.errors.extend(exc.messages)
                continue
            row.net, row.tax, row.total = priced.amount_excl_tax, priced.tax_amount, priced.amount
            requested[item.pk] = Requested(priced.amount, priced.tax_amount)
        page_errors: list[str] = []
        if credit and requested:
            try:
                check_available_to_credit(invoice=invoice, requested=requested)
            except ValidationError as exc:
                page_errors = spread_errors(exc, header, rows)
        return totals(
            rows.values(), page_errors, engine_taxes=engine_taxes, currency=invoice.currency
        )

    def render(self, invoice, header, rows, *, partial=None, page_errors=(), preview=None):
        missing = [row for row in rows.values() if row.available is None]
        if missing and partial is None and self.memo_type == MemoType.CREDIT:
            # The whole page shows each row's Available to Credit (the preview does not).
            available = available_to_credit([row.invoice_item for row in missing])
            for row in missing:
                row.available = available[row.invoice_item.pk]
        if self.memo_type == MemoType.CREDIT:
            for row in rows.values():
                row.nothing_left = row.available is not None and row.available.nothing_left
        context = {
            "invoice": invoice,
            "currency": invoice.currency,
            "memo_type": self.memo_type,
            "memo_type_label": MemoType(self.memo_type).label,
            "header": header,
            "rows": list(rows.values()),
            "page_errors": without(page_errors, preview),
            "preview": preview or totals(rows.values(), []),
            "amount_step": step_for(invoice.currency),
            "can_post": self.request.user.has_perm(perms.PROCESS_MEMO),
        }
        template = f"{self.template_name}#{partial}" if partial else self.template_name
        response = TemplateResponse(self.request, template, context)
        patch_vary_headers(response, ("HX-Request",))
        return response
