"""The two create pages: a memo from an invoice, and a standalone memo from charges.

Each page is one view. Its branches: GET renders the page; an htmx POST with `preview` renders
the live totals (and each row's tax, total and error, out of band); a plain POST creates the memo.
The charges page also answers htmx GETs for a new charge row and for the account search.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views import View
from django_htmx.http import HttpResponseClientRedirect

from billing import permissions as perms
from billing import tax
from billing.http import query_text
from billing.models import Account, Currency, Invoice, InvoiceStatus, TaxMode
from billing.money import ZERO, minor_unit, quantum, round_money
from billing.permissions import PermissionMixin
from billing.selectors import search_accounts
from memos import services
from memos.forms import AccountChoiceForm, ChargeRowForm, InvoiceRowForm, MemoHeaderForm
from memos.models import MemoType, TaxStatus
from memos.services.availability import available_to_credit, check_available_to_credit

ACCOUNT_SEARCH_LIMIT = 20


@dataclass
class Row:
    """A row of an item grid: its key, form and what the preview computed for it."""

    key: str
    form: object
    invoice_item: object = None
    available: Decimal | None = None
    net: Decimal | None = None
    tax: Decimal | None = None
    total: Decimal | None = None
    errors: list[str] = field(default_factory=list)

    def values(self) -> dict | None:
        """What the row holds: the cleaned input, or the defaults before anything was typed."""
        if not self.form.is_bound:
            return {
                name: self.form.get_initial_for_field(f, name)
                for name, f in self.form.fields.items()
            }
        return self.form.cleaned_data if self.form.is_valid() else None

    @property
    def messages(self) -> list[str]:
        """Form errors (bad input) and service errors (rules) of the row, in operator words."""
        out = []
        if self.form.is_bound and not self.form.is_valid():
            selected = self.form.cleaned_data.get("selected", True)
            if selected or "selected" not in self.form.fields:
                for name, errors in self.form.errors.items():
                    label = self.form.fields[name].label or name.replace("_", " ").capitalize()
                    out.extend(f"{label}: {e}" if name != "__all__" else e for e in errors)
        return out + self.errors


def chosen_account(account_form: AccountChoiceForm) -> Account | None:
    """The account typed in the form, or given in the page's URL (?account=A00000001)."""
    if account_form.is_bound:
        return account_form.cleaned_data.get("account") if account_form.is_valid() else None
    number = account_form.initial.get("account")
    return (
        Account.objects.select_related("currency").filter(number=number).first() if number else None
    )


def auto_tax_from(header: MemoHeaderForm) -> bool:
    if not header.is_bound:
        return header.fields["tax_auto_calculation"].initial
    return header.data.get("tax_auto_calculation") in ("on", "true", "1")


def tax_mode(data: dict, auto_tax: bool) -> str:
    """Tax-Included only counts with tax auto-calculation on (the checkbox is hidden otherwise)."""
    return TaxMode.INCLUSIVE if auto_tax and data.get("tax_included") else TaxMode.EXCLUSIVE


def typed_tax(data: dict, auto_tax: bool) -> Decimal | None:
    """A typed tax only counts with tax auto-calculation off (the field is hidden otherwise)."""
    return None if auto_tax else data.get("tax_amount")


def memo_type_from(request) -> str:
    value = request.GET.get("type") or request.POST.get("type") or MemoType.CREDIT
    if value not in MemoType.values:
        raise Http404("Unknown memo type")
    return value


def respond_created(request, memo) -> HttpResponse:
    if memo.replayed:
        # The same form submitted again by the same user: nothing new was created.
        messages.info(
            request,
            f"{memo.get_memo_type_display()} {memo.number} was already created from this form.",
        )
    elif memo.tax_status == TaxStatus.ERROR:
        # Saved, but not postable until the tax is calculated: not a plain success.
        messages.warning(
            request,
            f"{memo.get_memo_type_display()} {memo.number} was created as a draft, but its tax "
            "could not be calculated; recalculate tax before posting it.",
        )
    else:
        messages.success(
            request, f"{memo.get_memo_type_display()} {memo.number} was created as a draft."
        )
    url = memo.get_absolute_url()
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def spread_errors(exc: ValidationError, header: MemoHeaderForm, rows: dict[str, Row]) -> list[str]:
    """Put a service's errors beside the field or row they are about; return the rest."""
    page_errors: list[str] = []
    for key, messages_ in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
        if key in rows:
            rows[key].errors.extend(messages_)
        elif key in header.fields:
            for message in messages_:
                header.add_error(key, message)
        else:
            page_errors.extend(messages_)
    return page_errors


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
        available = available_to_credit(items)
        for item in items:
            key = f"item:{item.pk}"
            left = available[item.pk]
            form = InvoiceRowForm(
                prefix=f"item-{item.pk}",
                initial={"selected": True, "amount": self.default_amount(item, left)},
            )
            rows[key] = Row(key=key, form=form, invoice_item=item, available=left)
        return header, rows

    def default_amount(self, item, available: Decimal) -> Decimal:
        """The net amount whose tax brings the row to what is left to credit (debit: the item)."""
        currency = item.invoice.currency
        if self.memo_type == MemoType.DEBIT or available >= item.amount or item.amount <= 0:
            return item.amount_excl_tax if item.amount > 0 else ZERO
        if available <= 0:
            return ZERO
        net = round_money(available * item.amount_excl_tax / item.amount, currency)
        while (
            net > 0
            and net + round_money(net * item.tax_amount / item.amount_excl_tax, currency)
            > available
        ):
            net -= quantum(currency)
        return net

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
                return respond_created(request, memo)
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
        requested: dict[int, Decimal] = {}
        for row in rows.values():
            data = row.values()
            if data is None or not data.get("selected") or data.get("amount") is None:
                continue
            try:
                priced = services.price_line(
                    amount=data["amount"],
                    currency=invoice.currency,
                    tax_code=row.invoice_item.tax_code,
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
            requested[row.invoice_item.pk] = priced.amount
        page_errors: list[str] = []
        if self.memo_type == MemoType.CREDIT and requested:
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
        }
        template = f"{self.template_name}#{partial}" if partial else self.template_name
        response = TemplateResponse(self.request, template, context)
        patch_vary_headers(response, ("HX-Request",))
        return response


def totals(rows, page_errors, *, engine_taxes: bool = False, currency=None) -> dict:
    rows = list(rows)
    # Rows over what is available still count: the total then shows what was asked for.
    priced = [row for row in rows if row.total is not None]
    sums = {
        "net": sum((row.net for row in priced), ZERO),
        "tax": sum((row.tax for row in priced), ZERO),
        "total": sum((row.total for row in priced), ZERO),
    }
    if currency is not None:
        # What the create would refuse: a total wider than the memo's columns.
        try:
            services.check_memo_totals(currency, **sums)
        except ValidationError as exc:
            page_errors = [*page_errors, *exc.messages]
    return {
        **sums,
        "count": len(priced),
        "rows": rows,
        "errors": page_errors,
        "has_row_errors": any(row.errors for row in rows),
        # The third-party engine taxes the memo when it is saved, not on every keystroke.
        "engine_taxes": engine_taxes,
    }


def without(page_errors, preview: dict | None) -> list[str]:
    """The page's errors less those the totals panel shows already (a total too large)."""
    shown = preview["errors"] if preview else []
    return [error for error in page_errors if error not in shown]


def step_for(currency) -> str:
    places = minor_unit(currency)
    return "1" if places == 0 else "0." + "0" * (places - 1) + "1"


class MemoFromChargesCreateView(PermissionMixin, View):
    """/memos/new/?type=credit|debit: a standalone memo from catalog charges (DOMAIN.md 2.3)."""

    permission_required = perms.CREATE_MEMO_FROM_CHARGES
    template_name = "memos/memo_from_charges.html"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.memo_type = memo_type_from(request)

    def get(self, request, *args, **kwargs):
        if request.htmx and request.htmx.trigger_name == "account":
            return self.account_options(query_text(request.GET, "account"))
        if request.htmx and "add_line" in request.GET:
            row = Row(key=uuid.uuid4().hex[:8], form=None)
            row.form = ChargeRowForm(prefix=f"line-{row.key}")
            return self.respond({"row": row}, partial="charge_row")
        account_form = AccountChoiceForm(initial={"account": query_text(request.GET, "account")})
        header = MemoHeaderForm(memo_type=self.memo_type, from_invoice=False)
        first = Row(key=uuid.uuid4().hex[:8], form=None)
        first.form = ChargeRowForm(prefix=f"line-{first.key}")
        return self.render(account_form, header, {first.key: first})

    def post(self, request, *args, **kwargs):
        account_form = AccountChoiceForm(request.POST)
        header = MemoHeaderForm(request.POST, memo_type=self.memo_type, from_invoice=False)
        keys: dict[str, None] = {}  # in order, once each
        for key in request.POST.getlist("line")[: services.MAX_ITEMS + 1]:
            key = "".join(ch for ch in key if ch.isalnum())[:16]
            if key:
                keys[key] = None
        # Every row's charge in one query (not one per row form).
        charges = ChargeRowForm.charges_for(request.POST, [f"line-{key}" for key in keys])
        rows = {
            key: Row(
                key=key, form=ChargeRowForm(request.POST, prefix=f"line-{key}", charges=charges)
            )
            for key in keys
        }
        account = account_form.cleaned_data["account"] if account_form.is_valid() else None
        if request.POST.get("preview"):
            return self.render(
                account_form,
                header,
                rows,
                partial="preview",
                preview=self.preview(account, header, rows),
            )
        page_errors: list[str] = []
        if not rows:
            page_errors.append("Add at least one charge.")
        elif (
            account is not None
            and header.is_valid()
            and all(row.form.is_valid() for row in rows.values())
        ):
            try:
                memo = services.create_memo_from_charges(
                    account=account,
                    memo_type=self.memo_type,
                    lines=self.lines(rows, header.cleaned_data["tax_auto_calculation"]),
                    actor=request.user,
                    **{
                        k: v
                        for k, v in header.service_kwargs().items()
                        if k != "apply_to_invoice_on_post"
                    },
                )
            except ValidationError as exc:
                page_errors = spread_errors(exc, header, rows)
            else:
                return respond_created(request, memo)
        return self.render(
            account_form,
            header,
            rows,
            page_errors=page_errors,
            preview=self.preview(account, header, rows),
        )

    def lines(self, rows: dict[str, Row], auto_tax: bool) -> list[services.ChargeLine]:
        return [
            services.ChargeLine(
                charge=data["charge"],
                amount=data["amount"],
                quantity=data.get("quantity"),
                service_start=data.get("service_start"),
                service_end=data.get("service_end"),
                description=data.get("description", ""),
                tax_mode=tax_mode(data, auto_tax),
                tax_amount=typed_tax(data, auto_tax),
                key=row.key,
            )
            for row in rows.values()
            for data in [row.form.cleaned_data]
        ]

    def preview(self, account, header, rows: dict[str, Row]) -> dict:
        if account is None:
            return totals(rows.values(), [])
        auto_tax = auto_tax_from(header)
        engine_taxes = services.taxed_by_third_party_engine(auto_tax)
        memo_date = timezone.localdate()
        if header.is_bound and header.is_valid():
            memo_date = header.cleaned_data["memo_date"]
        rates = tax.RateBook(memo_date)
        for row in rows.values():
            data = row.values()
            if data is None or data.get("charge") is None:
                continue
            charge = data["charge"]
            try:
                priced = services.price_line(
                    amount=data["amount"],
                    currency=account.currency,
                    tax_code=charge.tax_code if charge.taxable else None,
                    tax_mode=tax_mode(data, auto_tax),
                    day=memo_date,
                    tax_auto_calculation=auto_tax,
                    typed_tax=typed_tax(data, auto_tax),
                    built_in_tax=not engine_taxes,
                    rates=rates,
                )
            except ValidationError as exc:
                row.errors.extend(exc.messages)
                continue
            row.net, row.tax, row.total = priced.amount_excl_tax, priced.tax_amount, priced.amount
        return totals(rows.values(), [], engine_taxes=engine_taxes, currency=account.currency)

    def account_options(self, query: str) -> HttpResponse:
        accounts = search_accounts(query, limit=ACCOUNT_SEARCH_LIMIT)
        return self.respond({"accounts": accounts}, partial="account_options")

    def render(self, account_form, header, rows, *, partial=None, page_errors=(), preview=None):
        account = chosen_account(account_form)
        context = {
            # Totals show in the account's currency once one is chosen.
            "preview_currency": account.currency if account else Currency.objects.get(code="USD"),
            "memo_type": self.memo_type,
            "memo_type_label": MemoType(self.memo_type).label,
            "account_form": account_form,
            "header": header,
            "rows": list(rows.values()),
            "page_errors": without(page_errors, preview),
            "preview": preview or totals(rows.values(), []),
        }
        return self.respond(context, partial=partial)

    def respond(self, context, *, partial=None) -> HttpResponse:
        context.setdefault("memo_type", self.memo_type)
        rows = context.get("rows") or ([context["row"]] if "row" in context else [])
        if rows and partial != "preview":
            # Each row's select lists the catalog: read it once for all of them.
            choices = list(ChargeRowForm.base_fields["charge"].choices)
            for row in rows:
                row.form.fields["charge"].choices = choices
        template = f"{self.template_name}#{partial}" if partial else self.template_name
        response = TemplateResponse(self.request, template, context)
        patch_vary_headers(response, ("HX-Request",))
        return response
