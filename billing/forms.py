"""Forms of the billing pages: a new bill run; the typed-number field every number input uses.

The form only reads what was typed (dates, numbers, the account); the rules (closed periods, a
charge type, the scope's batch or account) are create_bill_run's, and its errors are put beside
the fields they are about.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.models import Account, BillRunScope, batch_choices
from billing.money import HasPrecision, check_fits, parse_number


class TypedNumberField(forms.DecimalField):
    """A number typed as text, read by billing.money.parse_number (plain digits, no exponent,
    NaN or Infinity) and, given the `column` it is stored in, no larger than that column holds.

    Amounts are checked against their currency's limit by the services (validate_money); a
    column here is for numbers without a currency, such as quantities.
    """

    def __init__(self, *, column: HasPrecision | None = None, **kwargs):
        self.column = column
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        return parse_number(str(value))

    def validate(self, value):
        super().validate(value)
        if value is not None and self.column is not None:
            check_fits(value, self.column)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


# What an operator picks; "Failed accounts of another run" is made by the Retry action only.
SCOPE_CHOICES = [
    (BillRunScope.ALL.value, BillRunScope.ALL.label),
    (BillRunScope.BATCH.value, BillRunScope.BATCH.label),
    (BillRunScope.ACCOUNT.value, BillRunScope.ACCOUNT.label),
]
CHARGE_TYPE_FIELDS = ("include_one_time", "include_recurring", "include_usage")


class BillRunForm(forms.Form):
    name = forms.CharField(label="Name", max_length=255, required=False)
    scope = forms.ChoiceField(
        label="Scope", choices=SCOPE_CHOICES, initial=BillRunScope.ALL, widget=forms.RadioSelect
    )
    batch = forms.ChoiceField(
        label="Batch", choices=[("", "Any batch"), *batch_choices()], required=False
    )
    # The service says when a day is out of range; the browser's min/max helps before that.
    bill_cycle_day = forms.IntegerField(
        label="Bill cycle day",
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "max": 31, "inputmode": "numeric"}),
    )
    account = forms.CharField(label="Customer Account", max_length=300, required=False)
    # Not required here: the service's "Enter the invoice date." is the message for an empty one.
    invoice_date = forms.DateField(label="Invoice Date", required=False, widget=DateInput())
    target_date = forms.DateField(
        label="Target Date",
        required=False,
        widget=DateInput(),
        help_text="Charges due on or before this date are billed.",
    )
    include_one_time = forms.BooleanField(label="One-time", required=False, initial=True)
    include_recurring = forms.BooleanField(label="Recurring", required=False, initial=True)
    include_usage = forms.BooleanField(label="Usage", required=False, initial=True)
    auto_post = forms.BooleanField(label="Auto-post on completion", required=False)
    email_documents = forms.BooleanField(label="Email documents when posted", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        today = timezone.localdate()
        self.fields["invoice_date"].initial = today
        self.fields["target_date"].initial = today

    def clean_account(self) -> Account | None:
        # "A00000001" or "A00000001 Acme Corp" (what the search list fills in).
        typed = self.cleaned_data["account"].strip()
        if not typed or self.cleaned_data.get("scope") != BillRunScope.ACCOUNT:
            return None
        number = typed.split(" ")[0]
        account = Account.objects.filter(number__iexact=number).first()
        if account is None:
            raise ValidationError(
                "Choose an account from the list (type a name or an account number)."
            )
        return account

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        # Fields hidden for the chosen scope are not sent on; a leftover value in one of them
        # must not block the run with an error the operator cannot see.
        if scope != BillRunScope.BATCH:
            for name in ("batch", "bill_cycle_day"):
                self.errors.pop(name, None)
            data["batch"], data["bill_cycle_day"] = "", None
        return data

    def accounts_in_scope(self) -> int | None:
        """How many accounts the run would bill as the scope stands (None while it is not yet
        a valid scope: an unknown account, a day out of range)."""
        from billing.bill_runs.runner import accounts_in_scope
        from billing.models import BillRun

        if not self.is_valid():
            return None
        data = self.cleaned_data
        scope = data["scope"]
        if scope == BillRunScope.ACCOUNT and data["account"] is None:
            return None
        run = BillRun(
            scope=scope,
            batch=data["batch"] or "",
            bill_cycle_day=data["bill_cycle_day"],
            account=data["account"],
        )
        return accounts_in_scope(run).count()

    @property
    def charge_type_errors(self) -> list[str]:
        return [error for name in CHARGE_TYPE_FIELDS for error in self.errors.get(name, [])]

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        scope = data["scope"]
        return {
            "name": data["name"].strip(),
            "invoice_date": data["invoice_date"],
            "target_date": data["target_date"],
            "scope": scope,
            "batch": data["batch"] if scope == BillRunScope.BATCH else "",
            "bill_cycle_day": data["bill_cycle_day"] if scope == BillRunScope.BATCH else None,
            "account": data["account"] if scope == BillRunScope.ACCOUNT else None,
            "include_one_time": data["include_one_time"],
            "include_recurring": data["include_recurring"],
            "include_usage": data["include_usage"],
            "auto_post": data["auto_post"],
            "email_documents": data["email_documents"],
        }

    def add_service_errors(self, exc: ValidationError) -> None:
        """Put create_bill_run's errors beside their fields; the rest above the form."""
        for name, messages in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
            field = name if name in self.fields else None
            for message in messages:
                self.add_error(field, message)
