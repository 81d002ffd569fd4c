"""Forms of the payments pages: they parse; the services decide (DESIGN.md rule 12)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.filters import DateInput
from billing.models import Account, Invoice, InvoiceStatus, batch_choices
from memos.models import Memo, MemoStatus, MemoType
from payments.models import (
    EXTERNAL_PAYMENT_TYPES,
    PaymentMethodType,
    PaymentRun,
    PaymentRunScope,
)

SCOPE_CHOICES = [
    (value, label) for value, label in PaymentRunScope.choices if value != PaymentRunScope.RETRY
]


class ServiceErrorsMixin:
    def add_service_errors(self, exc: ValidationError) -> None:
        """Put a service's errors beside their fields; the rest above the form."""
        for name, messages in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
            field = name if name in self.fields else None
            for message in messages:
                self.add_error(field, message)


def account_from(typed: str) -> Account | None:
    # "A00000001" or "A00000001 Acme Corp" (what the search list fills in).
    number = typed.strip().split(" ")[0]
    return Account.objects.select_related("currency").filter(number__iexact=number).first()


class RecordPaymentForm(ServiceErrorsMixin, forms.Form):
    """Record a payment received outside the gateway, optionally applied to one document."""

    account = forms.CharField(label="Customer Account", max_length=300)
    amount = forms.CharField(label="Amount", max_length=40)
    payment_date = forms.DateField(label="Payment Date", widget=DateInput())
    method = forms.ChoiceField(label="Method", choices=EXTERNAL_PAYMENT_TYPES)
    reference = forms.CharField(label="Reference", max_length=100, required=False)
    comment = forms.CharField(
        label="Comment", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    apply_to = forms.CharField(
        label="Apply to",
        max_length=40,
        required=False,
        help_text="An invoice or debit memo number of the account (optional).",
    )
    apply_amount = forms.CharField(
        label="Amount to apply",
        max_length=40,
        required=False,
        help_text="Left empty: as much as the document's balance and the payment allow.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payment_date"].initial = timezone.localdate()

    def clean_account(self) -> Account:
        account = account_from(self.cleaned_data["account"])
        if account is None:
            raise ValidationError("Choose an account (type its number).")
        return account

    def clean(self):
        data = super().clean()
        number = (data.get("apply_to") or "").strip()
        data["document"] = None
        if number and data.get("account"):
            document = (
                Invoice.objects.filter(
                    number__iexact=number, account=data["account"], status=InvoiceStatus.POSTED
                ).first()
                or Memo.objects.filter(
                    number__iexact=number,
                    account=data["account"],
                    memo_type=MemoType.DEBIT,
                    status=MemoStatus.POSTED,
                ).first()
            )
            if document is None:
                self.add_error(
                    "apply_to", f"{number} is not a posted invoice or debit memo of this account."
                )
            data["document"] = document
        return data


class PaymentRunForm(ServiceErrorsMixin, forms.Form):
    scope = forms.ChoiceField(
        label="Scope", choices=SCOPE_CHOICES, initial=PaymentRunScope.ALL, widget=forms.RadioSelect
    )
    batch = forms.ChoiceField(
        label="Batch", choices=[("", "Any batch"), *batch_choices()], required=False
    )
    bill_cycle_day = forms.IntegerField(
        label="Bill cycle day",
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "max": 31, "inputmode": "numeric"}),
    )
    account = forms.CharField(label="Customer Account", max_length=300, required=False)
    target_date = forms.DateField(
        label="Target Date",
        required=False,
        widget=DateInput(),
        help_text="Documents due on or before this date are settled and collected.",
    )
    apply_credit_memos = forms.BooleanField(
        label="Apply unapplied credit memos", required=False, initial=True
    )
    collect_payments = forms.BooleanField(label="Collect payments", required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target_date"].initial = timezone.localdate()

    def clean_account(self) -> Account | None:
        typed = self.cleaned_data["account"].strip()
        if not typed or self.cleaned_data.get("scope") != PaymentRunScope.ACCOUNT:
            return None
        account = account_from(typed)
        if account is None:
            raise ValidationError("Choose an account from the list (type a name or a number).")
        return account

    def clean(self):
        data = super().clean()
        if data.get("scope") != PaymentRunScope.BATCH:
            for name in ("batch", "bill_cycle_day"):
                self.errors.pop(name, None)
            data["batch"], data["bill_cycle_day"] = "", None
        return data

    def accounts_in_scope(self) -> int | None:
        from payments.runs.kind import accounts_in_scope

        if not self.is_valid():
            return None
        data = self.cleaned_data
        if data["scope"] == PaymentRunScope.ACCOUNT and data["account"] is None:
            return None
        run = PaymentRun(
            scope=data["scope"],
            batch=data["batch"] or "",
            bill_cycle_day=data["bill_cycle_day"],
            account=data["account"],
        )
        return accounts_in_scope(run).count()

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        scope = data["scope"]
        return {
            "target_date": data["target_date"],
            "scope": scope,
            "batch": data["batch"] if scope == PaymentRunScope.BATCH else "",
            "bill_cycle_day": data["bill_cycle_day"] if scope == PaymentRunScope.BATCH else None,
            "account": data["account"] if scope == PaymentRunScope.ACCOUNT else None,
            "apply_credit_memos": data["apply_credit_memos"],
            "collect_payments": data["collect_payments"],
        }


class ApplyPaymentForm(ServiceErrorsMixin, forms.Form):
    """Apply (part of) a payment's unapplied amount to one invoice or debit memo of its account."""

    document = forms.CharField(label="Invoice or debit memo", max_length=40)
    amount = forms.CharField(label="Amount", max_length=40)
    effective_date = forms.DateField(label="Effective Date", widget=DateInput())

    def __init__(self, *args, payment, **kwargs):
        self.payment = payment
        super().__init__(*args, **kwargs)
        self.fields["effective_date"].initial = max(timezone.localdate(), payment.payment_date)

    def clean_document(self):
        number = self.cleaned_data["document"].strip()
        document = (
            Invoice.objects.filter(
                number__iexact=number, account_id=self.payment.account_id
            ).first()
            or Memo.objects.filter(
                number__iexact=number, account_id=self.payment.account_id, memo_type=MemoType.DEBIT
            ).first()
        )
        if document is None:
            raise ValidationError(f"{number} is not an invoice or debit memo of this account.")
        return document


class PaymentMethodForm(ServiceErrorsMixin, forms.Form):
    """Add a payment method to an account. The gateway token is write-only: never rendered back,
    not even after an error."""

    method_type = forms.ChoiceField(label="Type", choices=PaymentMethodType.choices)
    label = forms.CharField(
        label="Display label",
        max_length=100,
        help_text="What pages show, e.g. Visa ending 4242.",
    )
    gateway_token = forms.CharField(
        label="Gateway token",
        max_length=255,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="From the payment gateway. It is stored for charging and never shown again.",
    )
    make_default = forms.BooleanField(label="Make it the default", required=False)


class AutoPayForm(forms.Form):
    auto_pay = forms.BooleanField(label="Auto-Pay", required=False)
