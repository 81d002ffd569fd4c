"""The create page for a standalone memo from catalog charges (DOMAIN.md 2.3).

It also answers htmx GETs for a new charge row and for the account search. A line reads
Unit price x Quantity = Amount: the operator types the unit price (the page fills in the charge's
list price) and the live preview shows the amount the service will compute, with the same
functions (memos.services.pricing).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views import View

from billing import permissions as perms
from billing import tax
from billing.http import query_text
from billing.models import Account, Currency
from billing.money import minor_unit
from billing.permissions import PermissionMixin
from billing.selectors import search_accounts
from memos import services
from memos.forms import AccountChoiceForm, ChargeGrid, ChargeRowForm, MemoHeaderForm
from memos.forms.common import tax_mode, typed_tax
from memos.models import MemoType
from memos.services.creation import charge_amount
from memos.services.pricing import charge_quantity, default_service_period, list_prices
from memos.views.creation import (
    ACCOUNT_SEARCH_LIMIT,
    Row,
    auto_tax_from,
    chosen_account,
    memo_type_from,
    respond_created,
    spread_errors,
    totals,
    wants_post,
    without,
)


@dataclass
class ChargeRow(Row):
    """A charge line of the grid, with what the page shows beside its inputs."""

    position: int = 0
    label: str = ""
    amount: Decimal | None = None  # Unit price x Quantity
    list_price: Decimal | None = None  # in the account's currency, filled in as the unit price
    default_start: dt.date | None = None
    default_end: dt.date | None = None
    # The live preview: an empty field the operator has not reached yet is not an error there
    # (the save says so); a screen reader would otherwise hear "required" on every keystroke.
    live: bool = False

    @property
    def messages(self) -> list[str]:
        out = []
        if self.form.is_bound and not self.form.is_valid():
            for name, errors in self.form.errors.as_data().items():
                label = self.form.fields[name].label or name.replace("_", " ").capitalize()
                for error in errors:
                    if self.live and error.code == "required":
                        continue
                    for message in error.messages:
                        said = name == "__all__" or message.startswith(label)
                        out.append(message if said else f"{label}: {message}")
        return out + self.errors

    @property
    def invalid_fields(self) -> list[str]:
        """The row's fields shown invalid (aria-invalid): those in error, and for a rule the
        service checks on the line's figures, the figure it is about (the unit price makes the
        amount)."""
        names = []
        if self.form.is_bound and not self.form.is_valid():
            names = [
                name
                for name, errors in self.form.errors.as_data().items()
                if name != "__all__"
                and not (self.live and all(e.code == "required" for e in errors))
            ]
        for message in self.errors:
            name = (
                "tax_included"
                if message.startswith("Tax-Included")
                else "tax_amount"
                if message.startswith("Tax")
                else "unit_price"
            )
            if name not in names:
                names.append(name)
        return names

    @property
    def prefilled(self) -> str:
        """The figures the page filled in, sent back with the row (the page's script keeps it)."""
        if not self.form.is_bound:
            return ""
        self.form.is_valid()  # cleans once
        return " ".join(sorted(self.form.cleaned_data.get("prefilled", ())))


def new_row() -> ChargeRow:
    key = uuid.uuid4().hex[:8]
    return ChargeRow(key=key, form=ChargeRowForm(prefix=f"line-{key}"))


def rounding_note(currency: Currency) -> str:
    places = minor_unit(currency)
    if places == 0:
        return f"rounded to a whole {currency.code} (half up)"
    return f"rounded to {places} decimal places in {currency.code} (half up)"


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
            row = new_row()
            # The page sends its rows' keys: the new row is labelled "line <n>" until a charge
            # is chosen.
            row.position = len(ChargeGrid(request.GET).rows) + 1
            row.label = row.form.row_label(row.position)
            return self.respond({"row": row}, partial="charge_row")
        account_form = AccountChoiceForm(initial={"account": query_text(request.GET, "account")})
        header = MemoHeaderForm(memo_type=self.memo_type, from_invoice=False)
        first = new_row()
        return self.render(account_form, header, {first.key: first})

    def post(self, request, *args, **kwargs):
        account_form = AccountChoiceForm(request.POST)
        header = MemoHeaderForm(request.POST, memo_type=self.memo_type, from_invoice=False)
        grid = ChargeGrid(request.POST)
        rows = {key: ChargeRow(key=key, form=form) for key, form in grid.rows.items()}
        account = account_form.cleaned_data["account"] if account_form.is_valid() else None
        if request.POST.get("preview"):
            for row in rows.values():
                row.live = True
            preview = self.preview(account, header, rows)
            return self.render(account_form, header, rows, partial="preview", preview=preview)
        post = wants_post(request)
        page_errors: list[str] = []
        if not rows:
            page_errors.append("Add at least one charge.")
        elif (
            account is not None
            and header.is_valid()
            and all(r.form.is_valid() for r in rows.values())
        ):
            try:
                memo = self.create(account, header, rows)
            except ValidationError as exc:
                page_errors = spread_errors(exc, header, rows)
            else:
                return respond_created(request, memo, post=post)
        preview = self.preview(account, header, rows)
        return self.render(account_form, header, rows, page_errors=page_errors, preview=preview)

    def create(self, account: Account, header: MemoHeaderForm, rows: dict[str, ChargeRow]):
        header_kwargs = header.service_kwargs()
        header_kwargs.pop("apply_to_invoice_on_post", None)  # there is no invoice
        return services.create_memo_from_charges(
            account=account,
            memo_type=self.memo_type,
            lines=[
                self.line(row, header.cleaned_data["tax_auto_calculation"]) for row in rows.values()
            ],
            actor=self.request.user,
            **header_kwargs,
        )

    @staticmethod
    def line(row: ChargeRow, auto_tax: bool) -> services.ChargeLine:
        data = row.form.cleaned_data
        return services.ChargeLine(
            charge=data["charge"],
            unit_price=data["unit_price"],
            quantity=data.get("quantity"),
            service_start=data.get("service_start"),
            service_end=data.get("service_end"),
            description=data.get("description", ""),
            tax_mode=tax_mode(data, auto_tax),
            tax_amount=typed_tax(data, auto_tax),
            key=row.key,
        )

    def preview(self, account, header, rows: dict[str, ChargeRow]) -> dict:
        if account is None:
            return totals(rows.values(), [])
        auto_tax = auto_tax_from(header)
        engine_taxes = services.taxed_by_third_party_engine(auto_tax)
        memo_date = timezone.localdate()
        if header.is_bound and header.is_valid():
            memo_date = header.cleaned_data["memo_date"]
        pricing = {
            "account": account,
            "auto_tax": auto_tax,
            "engine_taxes": engine_taxes,
            "memo_date": memo_date,
            "rates": tax.RateBook(memo_date),
        }
        charges = [row.form.chosen_charge() for row in rows.values()]
        prices = list_prices([c for c in charges if c is not None], account.currency)
        for row in rows.values():
            self.price_row(row, prices=prices, **pricing)
        return totals(rows.values(), [], engine_taxes=engine_taxes, currency=account.currency)

    def price_row(
        self, row: ChargeRow, *, prices, account, auto_tax, engine_taxes, memo_date, rates
    ) -> None:
        """The row's defaults (list price, service period) and its figures, as the service
        computes them; a rule the line breaks goes beside the row."""
        charge = row.form.chosen_charge()
        if charge is None:
            return
        row.list_price = prices.get(charge.pk)
        # Past the calendar there is no default: the service says so if the dates stay empty.
        with contextlib.suppress(ValueError, OverflowError):
            row.default_start, row.default_end = default_service_period(
                charge, bill_cycle_day=account.bill_cycle_day, day=memo_date
            )
        if not row.form.is_valid():
            return
        line = self.line(row, auto_tax)
        try:
            row.amount = charge_amount(
                line, charge_quantity(charge, line.quantity), account.currency
            )
            priced = services.price_line(
                amount=row.amount,
                currency=account.currency,
                tax_code=charge.tax_code if charge.taxable else None,
                tax_mode=line.tax_mode,
                day=memo_date,
                tax_auto_calculation=auto_tax,
                typed_tax=line.tax_amount,
                built_in_tax=not engine_taxes,
                rates=rates,
            )
        except ValidationError as exc:
            row.errors.extend(exc.messages)
            return
        row.net, row.tax, row.total = priced.amount_excl_tax, priced.tax_amount, priced.amount

    def account_options(self, query: str) -> HttpResponse:
        accounts = search_accounts(query, limit=ACCOUNT_SEARCH_LIMIT)
        return self.respond({"accounts": accounts, "query": query}, partial="account_options")

    def render(self, account_form, header, rows, *, partial=None, page_errors=(), preview=None):
        account = chosen_account(account_form)
        currency = account.currency if account else Currency.objects.get(code="USD")
        for position, row in enumerate(rows.values(), start=1):
            row.position, row.label = position, row.form.row_label(position)
        context = {
            # Totals show in the account's currency once one is chosen.
            "preview_currency": currency,
            "rounding_note": rounding_note(currency),
            "account": account,
            "memo_type": self.memo_type,
            "memo_type_label": MemoType(self.memo_type).label,
            "account_form": account_form,
            "header": header,
            "rows": list(rows.values()),
            "page_errors": without(page_errors, preview),
            "preview": preview or totals(rows.values(), []),
            "can_post": self.request.user.has_perm(perms.PROCESS_MEMO),
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
