"""factory-boy factories for the memo models, shared by the tests and `seed_demo`."""

from __future__ import annotations

from decimal import Decimal

import factory

from billing import factories as billing_factories
from billing.models import NumberSeries
from billing.numbering import next_number
from memos import models


def reason_code(code_type: str = models.ReasonCodeType.CREDIT_MEMO) -> models.ReasonCode:
    """The type's default reason code (seeded by a migration)."""
    return models.ReasonCode.objects.get(code_type=code_type, is_default=True)


class ReasonCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ReasonCode
        django_get_or_create = ("code_type", "name")

    code_type = models.ReasonCodeType.CREDIT_MEMO
    name = factory.Sequence(lambda n: f"Reason {n}")


class MemoFactory(factory.django.DjangoModelFactory):
    """A Draft credit memo from charges, with totals but no items (add MemoItemFactory rows)."""

    class Meta:
        model = models.Memo

    memo_type = models.MemoType.CREDIT
    number = factory.LazyAttribute(
        lambda m: next_number(
            NumberSeries.Key.CREDIT_MEMO
            if m.memo_type == models.MemoType.CREDIT
            else NumberSeries.Key.DEBIT_MEMO
        )
    )
    account = factory.SubFactory(billing_factories.AccountFactory)
    currency = factory.SelfAttribute("account.currency")
    source = models.MemoSource.CHARGES
    memo_date = billing_factories.TODAY
    amount_excl_tax = Decimal("40")
    tax_amount = Decimal("4")
    amount = factory.LazyAttribute(lambda m: m.amount_excl_tax + m.tax_amount)
    balance = factory.LazyAttribute(
        lambda m: m.amount if m.memo_type == models.MemoType.DEBIT else Decimal("0")
    )
    reason_code = factory.LazyAttribute(
        lambda m: reason_code(
            models.ReasonCodeType.CREDIT_MEMO
            if m.memo_type == models.MemoType.CREDIT
            else models.ReasonCodeType.DEBIT_MEMO
        )
    )
    auto_pay = factory.LazyAttribute(lambda m: m.memo_type == models.MemoType.DEBIT)


class MemoItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.MemoItem

    memo = factory.SubFactory(MemoFactory)
    charge = factory.SubFactory(billing_factories.ChargeFactory)
    charge_name = factory.SelfAttribute("charge.name")
    sort_order = factory.Sequence(lambda n: n)
    amount_excl_tax = Decimal("40")
    tax_code = factory.SelfAttribute("charge.tax_code")
    tax_amount = Decimal("4")
    amount = factory.LazyAttribute(lambda i: i.amount_excl_tax + i.tax_amount)


class MemoApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.MemoApplication

    credit_memo = factory.SubFactory(MemoFactory, status=models.MemoStatus.POSTED)
    invoice = factory.SubFactory(
        billing_factories.InvoiceFactory, account=factory.SelfAttribute("..credit_memo.account")
    )
    amount = Decimal("10")
    effective_date = billing_factories.TODAY


class MemoApplicationItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.MemoApplicationItem

    application = factory.SubFactory(MemoApplicationFactory)
    credit_memo_item = factory.SubFactory(
        MemoItemFactory, memo=factory.SelfAttribute("..application.credit_memo")
    )
    invoice_item = factory.SubFactory(
        billing_factories.InvoiceItemFactory, invoice=factory.SelfAttribute("..application.invoice")
    )
    amount = Decimal("10")


class RefundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Refund

    number = factory.LazyFunction(lambda: next_number(NumberSeries.Key.REFUND))
    credit_memo = factory.SubFactory(MemoFactory, status=models.MemoStatus.POSTED)
    amount = Decimal("5")
    method = models.RefundMethod.CHECK
    refund_date = billing_factories.TODAY
    reason_code = factory.LazyFunction(lambda: reason_code(models.ReasonCodeType.REFUND))


class MemoEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.MemoEvent

    memo = factory.SubFactory(MemoFactory)
    kind = models.MemoEvent.Kind.CREATED
    message = "Created"
