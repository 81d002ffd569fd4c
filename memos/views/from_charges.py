"""The create page for a standalone memo from catalog charges (DOMAIN.md 2.3).

It also answers htmx GETs for a new charge row and for the account search.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views import View

from billing import permissions as perms
from billing import tax
from billing.http import query_text
from billing.models import Currency
from billing.permissions import PermissionMixin
from billing.selectors import search_accounts
from memos import services
from memos.forms import AccountChoiceForm, ChargeRowForm, MemoHeaderForm
from memos.models import MemoType
from memos.views.creation import (
    ACCOUNT_SEARCH_LIMIT,
    Row,
    auto_tax_from,
    chosen_account,
    memo_type_from,
    respond_created,
    spread_errors,
    tax_mode,
    totals,
    typed_tax,
    without,
)


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
