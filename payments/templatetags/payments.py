"""Template tags that let the billing and memos pages show payments without those apps importing
the payments app (it sits above them): `{% load payments %}` in their templates."""

from __future__ import annotations

from django import template

from billing.models import Invoice
from payments.models import PaymentApplication, PaymentMethod

register = template.Library()


@register.simple_tag
def payments_applied(document) -> list:
    """The payment applications of an invoice or debit memo, with their payments (one query)."""
    target = {"invoice": document} if isinstance(document, Invoice) else {"debit_memo": document}
    return list(
        PaymentApplication.objects.filter(**target)
        .select_related("payment")
        .order_by("created_at", "id")
    )


@register.simple_tag
def account_payment_methods(account) -> list:
    return list(PaymentMethod.objects.filter(account=account, active=True))


@register.simple_tag
def recent_payments(account, limit: int = 20) -> list:
    return list(account.payments.order_by("-payment_date", "-id")[:limit])
