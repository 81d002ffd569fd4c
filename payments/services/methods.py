"""Payment methods (DOMAIN.md 6): one default per account."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.busy import retry_when_busy
from billing.models import Account
from payments.models import PaymentMethod, PaymentMethodType


@retry_when_busy
@transaction.atomic
def add_payment_method(
    *,
    account: Account,
    method_type: str,
    label: str,
    gateway_token: str,
    make_default: bool = False,
    actor=None,
) -> PaymentMethod:
    """Add a payment method; the account's first one (or `make_default`) becomes its default,
    taking it from the old default in the same transaction."""
    errors = {}
    if method_type not in PaymentMethodType.values:
        errors["method_type"] = "Choose Credit Card, ACH or Bank Transfer."
    if not label.strip():
        errors["label"] = "Enter the label shown for it (e.g. Visa ending 4242)."
    if not gateway_token.strip():
        errors["gateway_token"] = "Enter the gateway's token."
    if errors:
        raise ValidationError(errors)
    Account.objects.select_for_update().filter(pk=account.pk).first()  # one writer per account
    existing = PaymentMethod.objects.filter(account=account)
    default = make_default or not existing.filter(is_default=True).exists()
    if default:
        existing.filter(is_default=True).update(is_default=False)
    return PaymentMethod.objects.create(
        account=account,
        method_type=method_type,
        label=label.strip(),
        gateway_token=gateway_token.strip(),
        is_default=default,
    )
