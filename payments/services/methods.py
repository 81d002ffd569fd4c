"""Payment methods (DOMAIN.md 6): one default per account."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.busy import retry_when_busy
from billing.models import Account
from payments.models import PaymentMethod, PaymentMethodType, PaymentRun, PaymentRunStatus
from payments.runs.kind import accounts_in_scope


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
    if len(label.strip()) > 100:
        errors["label"] = "At most 100 characters."
    if len(gateway_token.strip()) > 255:
        errors["gateway_token"] = "At most 255 characters."
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


def _locked_account(account: Account) -> Account:
    # The account row is the one lock every payment-method write takes (one writer per account),
    # so the one-default rule is checked against what other writers have committed.
    return Account.objects.select_for_update().select_related("currency").get(pk=account.pk)


def _locked_method(account: Account, payment_method: PaymentMethod) -> PaymentMethod:
    method = PaymentMethod.objects.select_for_update().filter(pk=payment_method.pk).first()
    if method is None or method.account_id != account.pk:
        raise ValidationError(f"{account.number} has no such payment method.", code="not_found")
    return method


def runs_depending_on(account: Account) -> list:
    """The Pending or Processing payment runs that collect payments and have `account` in their
    scope: they charge its default method when they reach it."""
    runs = PaymentRun.objects.filter(
        status__in=[PaymentRunStatus.PENDING, PaymentRunStatus.PROCESSING], collect_payments=True
    ).order_by("pk")
    return [run for run in runs if accounts_in_scope(run).filter(pk=account.pk).exists()]


@retry_when_busy
@transaction.atomic
def make_default_payment_method(*, payment_method: PaymentMethod, actor=None) -> PaymentMethod:
    """Make an active payment method its account's default (the old default gives it up in the
    same transaction: one default per account, which a constraint also enforces)."""
    account = _locked_account(payment_method.account)
    method = _locked_method(account, payment_method)
    if not method.active:
        raise ValidationError(
            f"{method.label} was removed: it cannot be the default.", code="invalid_state"
        )
    if not method.is_default:
        PaymentMethod.objects.filter(account=account, is_default=True).update(is_default=False)
        method.is_default = True
        method.save(update_fields=["is_default"])
    return method


@retry_when_busy
@transaction.atomic
def remove_payment_method(*, payment_method: PaymentMethod, actor=None) -> PaymentMethod:
    """Deactivate a payment method (kept: payments name it). Removing the default makes the
    oldest other active method the default, which is what a payment run would charge anyway.

    Refused: a method already removed; the default while a Pending or Processing payment run
    that collects payments has the account in scope (it is what that run charges); the last
    method of an account with Auto-Pay on (its invoices would have nothing to be charged to)."""
    account = _locked_account(payment_method.account)
    method = _locked_method(account, payment_method)
    if not method.active:
        raise ValidationError(f"{method.label} was removed already.", code="invalid_state")
    others = PaymentMethod.objects.filter(account=account, active=True).exclude(pk=method.pk)
    successor = others.order_by("pk").first()
    if method.is_default:
        runs = runs_depending_on(account)
        if runs:
            listed = ", ".join(f"{run.number} ({run.get_status_display()})" for run in runs)
            raise ValidationError(
                f"{listed} will charge {method.label}, {account.number}'s default payment "
                "method: remove it once the run has finished.",
                code="invalid_state",
            )
    if successor is None and account.auto_pay:
        raise ValidationError(
            f"{method.label} is the only payment method of {account.number}, which has Auto-Pay "
            "on: turn Auto-Pay off first, or add another payment method.",
            code="invalid_state",
        )
    was_default = method.is_default
    method.active = False
    method.is_default = False
    method.save(update_fields=["active", "is_default"])
    if was_default and successor is not None:
        successor.is_default = True
        successor.save(update_fields=["is_default"])
    return method


@retry_when_busy
@transaction.atomic
def set_auto_pay(*, account: Account, auto_pay: bool, actor=None) -> Account:
    """Turn an account's Auto-Pay on or off (DOMAIN.md 6): with it on, payment runs charge the
    account's invoices to its default electronic payment method. Turning it on needs one."""
    locked = _locked_account(account)
    if not isinstance(auto_pay, bool):
        raise ValidationError({"auto_pay": "Auto-Pay is on or off."})
    if auto_pay and not PaymentMethod.objects.filter(account=locked, is_default=True).exists():
        raise ValidationError(
            {
                "auto_pay": f"{locked.number} has no payment method: add one before turning "
                "Auto-Pay on (payment runs charge the default electronic method)."
            }
        )
    if locked.auto_pay != auto_pay:
        locked.auto_pay = auto_pay
        locked.save(update_fields=["auto_pay"])
    return locked
