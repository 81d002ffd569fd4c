"""The Django admin for staff (DOMAIN.md section 5): every model, with search, filters and
read-only money and state.

State changes (statuses, amounts, balances, counters, numbers) only go through the service
functions, so the admin shows them and never writes them. Documents (invoices, bill runs, usage,
and the memo documents in memos/admin.py) cannot be added or deleted here; reference data can.
"""

from __future__ import annotations

from operator import attrgetter

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import models
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from billing import period_services, permissions, services
from billing.admin_writes import (
    ServiceRefused,
    ServiceWritesAdmin,
    WordsAdmin,
    refusal_text,
    refusals_as_messages,
)
from billing.models import (
    Account,
    AccountingPeriod,
    AccountingPeriodEvent,
    ApprovalRule,
    BilledPeriod,
    BillingSettings,
    BillRun,
    BillRunChunk,
    BillRunError,
    Charge,
    ChargePrice,
    Currency,
    Invoice,
    InvoiceItem,
    NumberSeries,
    PeriodStatus,
    Product,
    Subscription,
    SubscriptionCharge,
    TaxCode,
    TaxRate,
    UsageRecord,
)
from billing.money import format_money
from billing.numbering import next_number

admin.site.site_header = "Memodesk administration"
admin.site.site_title = "Memodesk admin"
admin.site.index_title = "Billing data"


def money_display(field: str, description: str, *, currency: str = "currency"):
    """An admin column (or read-only field) showing a money field rounded to its currency.

    Amounts are stored with the most precise currency's decimals (3); shown raw, USD 110 would
    read "110.000". `currency` is the attribute path from the row to its Currency.
    """
    get_currency = attrgetter(currency)

    @admin.display(description=description, ordering=field)
    def display(self, obj) -> str:
        return format_money(getattr(obj, field), get_currency(obj))

    display.__name__ = f"display_{field}"
    return display


class DocumentAdmin(WordsAdmin):
    """A document: never added or deleted here, and read-only except `editable_fields`.

    Documents are created, posted, settled and canceled by the services, which check the rules
    and write history; the admin only shows them. A document admin without editable fields is
    view-only (no Save button that would do nothing). Subclasses declare `fields` or `fieldsets`:
    everything listed there except `editable_fields` is read-only.
    """

    editable_fields: tuple[str, ...] = ()
    show_full_result_count = False  # no second COUNT(*) over a large table per page

    def get_fields(self, request, obj=None):
        if not self.fields and not self.fieldsets:
            raise ImproperlyConfigured(f"{type(self).__name__} must declare fields or fieldsets")
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        names = flatten_fieldsets(self.get_fieldsets(request, obj))
        return [name for name in names if name not in self.editable_fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return bool(self.editable_fields) and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        # Write only the columns the admin may edit: a full save() would write back every amount
        # and status as read at the start of this request, over a service that changed them since.
        fields = [name for name in form.changed_data if name in self.editable_fields]
        if not fields:
            return
        fields += [f.name for f in obj._meta.concrete_fields if getattr(f, "auto_now", False)]
        obj.save(update_fields=fields)


class ReadOnlyInline(admin.TabularInline):
    """Items shown inside their parent, read-only; each row links to its own admin page.

    `select_related` names what each row's __str__ (shown with its link) and money columns
    read, parent included: the inline formset does not reuse the parent instance for that.
    """

    extra = 0
    can_delete = False
    show_change_link = True
    select_related: tuple[str, ...] = ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.select_related(*self.select_related) if self.select_related else queryset

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReferenceAdmin(WordsAdmin):
    """Reference data: editable, except state and `readonly_on_change` once the row exists."""

    readonly_on_change: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly + self.readonly_on_change if obj is not None else readonly


# Reference data


@admin.register(Currency)
class CurrencyAdmin(ReferenceAdmin):
    list_display = ["code", "name", "minor_unit"]
    search_fields = ["code", "name"]
    # The code is the primary key (editing it would copy the row), and amounts already stored
    # were validated against the minor unit.
    readonly_on_change = ("code", "minor_unit")


class AccountingPeriodForm(forms.ModelForm):
    """Shows the services' own refusals (overlap, name, dates) beside the fields, input kept."""

    class Meta:
        model = AccountingPeriod
        fields = ["name", "start_date", "end_date"]

    def clean(self):
        data = super().clean()
        instance = self.instance
        values = {
            # A Closed period's dates are read-only here, so not in the form.
            field: data.get(field, getattr(instance, field) if field not in self.fields else None)
            for field in ["name", "start_date", "end_date"]
        }
        if all(value is not None for value in values.values()):
            try:
                period_services.check_period(period=instance if instance.pk else None, **values)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field if field in self.fields else None, errors)
        return data


class PeriodReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason", widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000
    )


class AccountingPeriodEventInline(ReadOnlyInline):
    """The period's history, oldest first, read-only."""

    model = AccountingPeriodEvent
    fields = ["at", "kind", "actor", "reason", "before", "after"]
    readonly_fields = fields
    show_change_link = False
    select_related = ("actor",)


@admin.register(AccountingPeriod)
class AccountingPeriodAdmin(ServiceWritesAdmin):
    """Every write goes through billing.period_services (DOMAIN.md 1).

    Status is never edited: "Close" and "Reopen" are actions asking for a reason. A Closed
    period's dates are read-only (the service refuses them too), and a delete is refused in words
    when the period is Closed or a document is dated in it.
    """

    form = AccountingPeriodForm
    list_display = ["name", "start_date", "end_date", "status"]
    list_filter = ["status"]
    search_fields = ["name"]
    date_hierarchy = "start_date"
    fields = ["name", "start_date", "end_date", "status"]
    actions = ["close_periods", "reopen_periods", "delete_selected"]
    inlines = [AccountingPeriodEventInline]
    reason_template = "admin/billing/accountingperiod/reason.html"

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status == PeriodStatus.CLOSED:
            return ["start_date", "end_date", "status"]
        return ["status"]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # a new period has no history yet

    def has_configure_permission(self, request) -> bool:
        return request.user.has_perm(permissions.CONFIGURE_BILLING)

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        with refusals_as_messages():
            if change:
                changed = {field: data[field] for field in form.changed_data if field in data}
                if changed:
                    period_services.update_accounting_period(
                        period=obj, actor=request.user, **changed
                    )
            else:
                created = period_services.create_accounting_period(
                    actor=request.user,
                    name=data["name"],
                    start_date=data["start_date"],
                    end_date=data["end_date"],
                )
                # The admin's log entry and redirect need the new row's key.
                obj.pk, obj.status = created.pk, created.status

    def deletion_refusal(self, request, obj) -> str | None:
        return period_services.deletion_refusal(obj)

    def delete_through_service(self, request, obj) -> None:
        period_services.delete_accounting_period(period=obj, actor=request.user)

    @admin.action(description="Close selected accounting periods", permissions=["configure"])
    def close_periods(self, request, queryset):
        return self._change_status(
            request, queryset, period_services.close_accounting_period, "Close", "Closed"
        )

    @admin.action(description="Reopen selected accounting periods", permissions=["configure"])
    def reopen_periods(self, request, queryset):
        return self._change_status(
            request, queryset, period_services.reopen_accounting_period, "Reopen", "Reopened"
        )

    def _change_status(self, request, queryset, service, verb: str, done: str):
        """First ask why (an intermediate page), then call the service period by period."""
        form = PeriodReasonForm(request.POST if "apply" in request.POST else None)
        periods = list(queryset.order_by("start_date"))
        if form.is_valid():
            changed = []
            for period in periods:
                try:
                    service(period=period, actor=request.user, reason=form.cleaned_data["reason"])
                except (ValidationError, PermissionDenied) as exc:
                    self.message_user(request, refusal_text(exc), messages.ERROR)
                else:
                    changed.append(period.name)
            if changed:
                self.message_user(request, f"{done} {', '.join(changed)}.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb} accounting periods",
            "opts": self.opts,
            "periods": periods,
            "form": form,
            "verb": verb,
            "action": request.POST.get("action"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, self.reason_template, context)


class TaxRateInline(ReadOnlyInline):
    model = TaxRate
    fields = ["rate", "effective_from", "effective_to"]
    readonly_fields = fields
    select_related = ("tax_code",)


@admin.register(TaxCode)
class TaxCodeAdmin(ReferenceAdmin):
    list_display = ["code", "name", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]
    inlines = [TaxRateInline]


@admin.register(TaxRate)
class TaxRateAdmin(ReferenceAdmin):
    list_display = ["tax_code", "rate", "effective_from", "effective_to"]
    list_filter = ["tax_code"]
    list_select_related = ["tax_code"]
    search_fields = ["tax_code__code", "tax_code__name"]
    date_hierarchy = "effective_from"


@admin.register(NumberSeries)
class NumberSeriesAdmin(WordsAdmin):
    """One row per document type, seeded by a migration: only the prefix is configurable."""

    list_display = ["key", "prefix", "last_number"]
    search_fields = ["key", "prefix"]
    readonly_fields = ["key", "last_number"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ApprovalRuleInline(admin.TabularInline):
    """DOMAIN.md 8: per memo type and currency, the total at or above which a memo is posted
    only once approved (validated by ApprovalRule.clean: the currency's decimals, > 0)."""

    model = ApprovalRule
    fields = ["memo_type", "currency", "threshold"]
    extra = 0
    verbose_name = "approval rule"


@admin.register(ApprovalRule)
class ApprovalRuleAdmin(ReferenceAdmin):
    list_display = ["memo_type", "currency", "threshold"]
    list_filter = ["memo_type", "currency"]
    search_fields = ["currency__code"]
    fields = ["memo_type", "currency", "threshold"]


@admin.register(BillingSettings)
class BillingSettingsAdmin(WordsAdmin):
    """The singleton row (pk 1) exists from a migration: it is edited, never added or deleted."""

    list_display = [
        "__str__",
        "generation_rule",
        "credit_validation_level",
        "application_rule",
        "tax_engine",
    ]
    # The tax engine is reached over HTTPS; also Django 6's default for scheme-less URLs.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [ApprovalRuleInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReferenceAdmin):
    list_display = ["number", "name", "currency", "bill_cycle_day", "batch", "status", "created_at"]
    list_filter = ["status", "currency", "batch"]
    list_select_related = ["currency"]
    search_fields = ["number", "name"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = [
        "number", "name", "currency", "bill_cycle_day", "batch", "status", "auto_pay",
        "unapplied_payments", "created_at",
    ]  # fmt: skip
    readonly_fields = ["number", "status", "unapplied_payments", "created_at"]
    # Kept by the payments app's services (DOMAIN.md 1 and 6), never typed.
    unapplied_payments = money_display("unapplied_payment_amount", "Unapplied payments")
    # An account's documents are in its currency.
    readonly_on_change = ("currency",)

    def save_model(self, request, obj, form, change) -> None:
        # The services the API calls too (billing.services): one validation, one numbering.
        with refusals_as_messages():
            if change:
                saved = services.update_account(
                    account=obj,
                    actor=request.user,
                    **{name: getattr(obj, name) for name in services.ACCOUNT_FIELDS},
                )
            else:
                saved = services.create_account(
                    name=obj.name,
                    currency=obj.currency_id,
                    bill_cycle_day=obj.bill_cycle_day,
                    batch=obj.batch,
                    actor=request.user,
                )
        obj.pk, obj.number, obj.name, obj.created_at = (
            saved.pk, saved.number, saved.name, saved.created_at
        )  # fmt: skip
        obj._state.adding = False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


@admin.register(Product)
class ProductAdmin(ReferenceAdmin):
    list_display = ["name", "sku"]
    search_fields = ["name", "sku", "description"]


class ChargePriceInline(ReadOnlyInline):
    model = ChargePrice
    fields = ["currency", "list_price"]
    readonly_fields = fields
    select_related = ("charge__product", "currency")


@admin.register(Charge)
class ChargeAdmin(ReferenceAdmin):
    list_display = [
        "name",
        "product",
        "charge_type",
        "charge_model",
        "billing_period",
        "taxable",
        "tax_code",
        "active",
    ]
    list_filter = ["charge_type", "charge_model", "billing_period", "taxable", "active"]
    list_select_related = ["product", "tax_code"]
    search_fields = ["name", "product__name", "product__sku"]
    autocomplete_fields = ["product", "tax_code"]
    inlines = [ChargePriceInline]


@admin.register(ChargePrice)
class ChargePriceAdmin(ReferenceAdmin):
    list_display = ["charge", "currency", "list_price"]
    list_filter = ["currency"]
    list_select_related = ["charge__product", "currency"]
    search_fields = ["charge__name", "charge__product__name"]
    autocomplete_fields = ["charge"]


class SubscriptionChargeInline(ReadOnlyInline):
    model = SubscriptionCharge
    fields = ["charge", "price", "quantity", "start_date", "end_date", "charged_through_date"]
    readonly_fields = fields
    select_related = ("subscription", "charge__product")


@admin.register(Subscription)
class SubscriptionAdmin(ReferenceAdmin):
    list_display = ["number", "account", "start_date", "end_date", "status"]
    list_filter = ["status"]
    list_select_related = ["account"]
    search_fields = ["number", "account__number", "account__name"]
    date_hierarchy = "start_date"
    show_full_result_count = False
    autocomplete_fields = ["account"]
    fields = ["number", "account", "start_date", "end_date", "status"]
    readonly_fields = ["number", "status"]
    inlines = [SubscriptionChargeInline]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.number = next_number(NumberSeries.Key.SUBSCRIPTION)
        super().save_model(request, obj, form, change)


@admin.register(SubscriptionCharge)
class SubscriptionChargeAdmin(ReferenceAdmin):
    list_display = [
        "subscription",
        "charge",
        "price",
        "quantity",
        "start_date",
        "end_date",
        "charged_through_date",
    ]
    list_filter = ["charge__charge_type"]
    list_select_related = ["subscription", "charge__product"]
    search_fields = ["subscription__number", "subscription__account__number", "charge__name"]
    show_full_result_count = False
    autocomplete_fields = ["subscription", "charge"]
    readonly_fields = ["charged_through_date"]  # advanced by bill runs only


# Documents


@admin.register(AccountingPeriodEvent)
class AccountingPeriodEventAdmin(DocumentAdmin):
    """A period's history is append-only: billing.period_services writes it."""

    list_display = ["period_name", "kind", "actor", "at", "reason"]
    list_filter = ["kind"]
    list_select_related = ["actor"]
    search_fields = ["period_name", "reason"]
    date_hierarchy = "at"
    fields = ["period", "period_name", "kind", "actor", "at", "reason", "before", "after"]


@admin.register(UsageRecord)
class UsageRecordAdmin(DocumentAdmin):
    list_display = [
        "subscription_charge",
        "usage_date",
        "quantity",
        "unit_of_measure",
        "billed_period",
    ]
    list_filter = [("billed_period", admin.EmptyFieldListFilter)]
    list_select_related = [
        "subscription_charge__subscription",
        "subscription_charge__charge",
        "billed_period",
    ]
    search_fields = [
        "subscription_charge__subscription__number",
        "subscription_charge__subscription__account__number",
        "subscription_charge__charge__name",
    ]
    date_hierarchy = "usage_date"
    fields = [
        "subscription_charge",
        "usage_date",
        "quantity",
        "unit_of_measure",
        "billed_period",
        "created_at",
    ]


class InvoiceItemInline(ReadOnlyInline):
    model = InvoiceItem
    fields = [
        "sort_order",
        "charge_name",
        "description",
        "service_start",
        "service_end",
        "quantity",
        "unit_price",
        "tax_mode",
        "display_amount_excl_tax",
        "display_tax_amount",
        "display_amount",
        "display_balance",
    ]
    readonly_fields = fields
    select_related = ("invoice__currency",)

    display_amount_excl_tax = money_display(
        "amount_excl_tax", "Amount excl. tax", currency="invoice.currency"
    )
    display_tax_amount = money_display("tax_amount", "Tax", currency="invoice.currency")
    display_amount = money_display("amount", "Amount", currency="invoice.currency")
    display_balance = money_display("balance", "Balance", currency="invoice.currency")


@admin.register(Invoice)
class InvoiceAdmin(DocumentAdmin):
    list_display = [
        "number",
        "account",
        "invoice_date",
        "due_date",
        "status",
        "currency",
        "display_amount",
        "display_balance",
    ]
    list_filter = ["status", "currency"]
    list_select_related = ["account", "currency"]
    search_fields = ["number", "account__number", "account__name"]
    date_hierarchy = "invoice_date"
    fields = [
        "number",
        "account",
        "currency",
        "status",
        "invoice_date",
        "due_date",
        "bill_run",
        "display_amount_excl_tax",
        "display_tax_amount",
        "display_amount",
        "display_balance",
        "created_at",
        "posted_at",
    ]
    inlines = [InvoiceItemInline]

    display_amount_excl_tax = money_display("amount_excl_tax", "Amount excl. tax")
    display_tax_amount = money_display("tax_amount", "Tax amount")
    display_amount = money_display("amount", "Amount")
    display_balance = money_display("balance", "Balance")


@admin.register(InvoiceItem)
class InvoiceItemAdmin(DocumentAdmin):
    list_display = [
        "invoice",
        "sort_order",
        "charge_name",
        "service_start",
        "service_end",
        "quantity",
        "display_amount",
        "display_balance",
    ]
    list_filter = ["tax_mode"]
    list_select_related = ["invoice__currency"]
    search_fields = ["invoice__number", "charge_name", "description"]
    fields = [
        "invoice",
        "sort_order",
        "charge",
        "subscription_charge",
        "charge_name",
        "description",
        "service_start",
        "service_end",
        "quantity",
        "unit_of_measure",
        "unit_price",
        "tax_code",
        "tax_mode",
        "display_amount_excl_tax",
        "display_tax_amount",
        "display_amount",
        "display_balance",
    ]

    display_amount_excl_tax = money_display(
        "amount_excl_tax", "Amount excl. tax", currency="invoice.currency"
    )
    display_tax_amount = money_display("tax_amount", "Tax amount", currency="invoice.currency")
    display_amount = money_display("amount", "Amount", currency="invoice.currency")
    display_balance = money_display("balance", "Balance", currency="invoice.currency")


@admin.register(BillRun)
class BillRunAdmin(DocumentAdmin):
    list_display = [
        "number",
        "name",
        "status",
        "scope",
        "invoice_date",
        "target_date",
        "accounts_in_scope",
        "accounts_processed",
        "accounts_failed",
        "invoices_generated",
        "credit_memos_generated",
        "created_at",
    ]
    list_filter = ["status", "scope", "auto_post"]
    list_select_related = ["account"]
    search_fields = ["number", "name", "account__number"]
    date_hierarchy = "invoice_date"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "number",
                    "name",
                    "status",
                    "invoice_date",
                    "target_date",
                    "retry_of",
                ]
            },
        ),
        (
            "Scope",
            {
                "fields": [
                    "scope",
                    "batch",
                    "bill_cycle_day",
                    "account",
                    "include_one_time",
                    "include_recurring",
                    "include_usage",
                    "auto_post",
                    "generation_rule",
                ]
            },
        ),
        (
            "Counts",
            {
                "fields": [
                    "accounts_in_scope",
                    "accounts_processed",
                    "accounts_failed",
                    "invoices_generated",
                    "credit_memos_generated",
                    "zero_total_invoices",
                ]
            },
        ),
        (
            "Record",
            {"fields": ["message", "created_by", "created_at", "started_at", "finished_at"]},
        ),
    ]
    editable_fields = ("name",)


@admin.register(BillRunChunk)
class BillRunChunkAdmin(DocumentAdmin):
    list_display = ["bill_run", "sequence", "status", "attempts", "lease_owner", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["bill_run"]
    search_fields = ["bill_run__number", "lease_owner"]
    fields = [
        "bill_run", "sequence", "status", "account_ids", "lease_owner", "lease_expires_at",
        "attempts", "finished_at",
    ]  # fmt: skip


@admin.register(BilledPeriod)
class BilledPeriodAdmin(DocumentAdmin):
    list_display = ["subscription_charge", "period_start", "period_end", "bill_run"]
    list_select_related = ["subscription_charge__subscription", "subscription_charge__charge",
                           "bill_run"]  # fmt: skip
    search_fields = ["subscription_charge__subscription__number", "bill_run__number"]
    date_hierarchy = "period_start"
    fields = ["subscription_charge", "period_start", "period_end", "bill_run"]


@admin.register(BillRunError)
class BillRunErrorAdmin(DocumentAdmin):
    list_display = ["bill_run", "account", "short_reason", "created_at"]
    list_select_related = ["bill_run", "account"]
    search_fields = ["bill_run__number", "account__number", "reason"]
    date_hierarchy = "created_at"
    fields = ["bill_run", "account", "reason", "created_at"]

    @admin.display(description="Reason")
    def short_reason(self, obj: BillRunError) -> str:
        return obj.reason if len(obj.reason) <= 80 else f"{obj.reason[:79]}…"
