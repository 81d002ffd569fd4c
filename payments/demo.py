"""The payments part of the demo data (`manage.py seed_demo`, through PaymentsConfig.seed_demo):
payment methods on most accounts, Auto-Pay on some, a few cards the gateway declines, and a few
payments recorded by hand (unapplied), so that a payment run of all accounts collects, declines
and reports an account with nothing to charge.

The tokens follow the gateway's rule (payments.gateway.decline_reason_of): "tok_decline_<words>"
is declined with that reason, by the built-in simulated gateway and by the test stand-in alike.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from billing.models import Account, AccountStatus, Invoice, InvoiceStatus
from payments.models import PaymentMethod, PaymentMethodType, PaymentType
from payments.services.settlement import record_payment

DECLINING = [
    ("Mastercard ending 0002", "tok_decline_insufficient_funds"),
    ("Visa ending 0069", "tok_decline_card_expired"),
    ("Amex ending 0019", "tok_decline_do_not_honor"),
]


def method_for(position: int) -> tuple[str, str, str] | None:
    """(type, label, token) of the n-th account's default method; None for every tenth."""
    if position % 10 == 9:
        return None
    if position % 9 == 4:
        label, token = DECLINING[(position // 9) % len(DECLINING)]
        return PaymentMethodType.CREDIT_CARD, label, token
    if position % 3 == 1:
        last4 = f"{6789 + position:04d}"[-4:]
        return PaymentMethodType.ACH, f"Checking ending {last4}", f"tok_ach_{last4}"
    last4 = f"{4242 + position * 7:04d}"[-4:]
    return PaymentMethodType.CREDIT_CARD, f"Visa ending {last4}", f"tok_visa_{last4}"


def seed_payments(*, actor) -> None:
    accounts = list(Account.objects.filter(status=AccountStatus.ACTIVE).order_by("pk"))
    methods, auto_pay = [], []
    for position, account in enumerate(accounts):
        method = method_for(position)
        if method is not None:
            method_type, label, token = method
            methods.append(
                PaymentMethod(
                    account=account,
                    method_type=method_type,
                    label=label,
                    gateway_token=token,
                    is_default=True,
                )
            )
        # Auto-Pay on two accounts in three (some of them without a method: an error in a run).
        if position % 3 != 2:
            auto_pay.append(account.pk)
    PaymentMethod.objects.bulk_create(methods)
    Account.objects.filter(pk__in=auto_pay).update(auto_pay=True)
    # A few payments received by check or wire and not applied yet: they lower their accounts'
    # balances until someone applies them (the demo's payment run collects the invoices).
    for n, invoice in enumerate(
        Invoice.objects.filter(status=InvoiceStatus.POSTED, balance__gt=0)
        .select_related("account__currency")
        .order_by("invoice_date", "number")[:3]
    ):
        amount = (invoice.balance / 2).quantize(Decimal("1"))
        if amount <= 0:
            continue
        record_payment(
            account=invoice.account,
            amount=amount,
            payment_date=timezone.localdate(),
            method=PaymentType.CHECK if n % 2 == 0 else PaymentType.WIRE_TRANSFER,
            reference=f"{'Check' if n % 2 == 0 else 'Wire'} {1001 + n}",
            actor=actor,
        )
