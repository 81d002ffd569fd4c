"""factory-boy factories for the billing models, shared by the tests and `seed_demo`.

Reference rows seeded by migrations (currencies, number series, settings) are fetched, not made.
Documents that carry numbers and totals (invoices) are best made through billing.services;
InvoiceFactory exists for tests that need a row in a given state without the service's rules.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from billing import models
from billing.numbering import next_number

TODAY = dt.date(2026, 11, 1)


def currency(code: str = "USD") -> models.Currency:
    return models.Currency.objects.get(code=code)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("memodesk-pass")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        """UserFactory(roles=["Billing operator"]) puts the user in those groups."""
        if create and extracted:
            self.groups.set(Group.objects.filter(name__in=extracted))


class AccountingPeriodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.AccountingPeriod

    name = factory.Sequence(lambda n: f"Period {n}")
    start_date = dt.date(2026, 1, 1)
    end_date = dt.date(2026, 1, 31)
    status = models.PeriodStatus.OPEN


class AccountingPeriodEventFactory(factory.django.DjangoModelFactory):
    """A history row as the services write them (billing.period_services)."""

    class Meta:
        model = models.AccountingPeriodEvent

    period = factory.SubFactory(AccountingPeriodFactory)
    period_name = factory.SelfAttribute("period.name")
    kind = models.AccountingPeriodEvent.Kind.CLOSED
    reason = "Month end"


class TaxCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.TaxCode
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"TAX{n}")
    name = factory.LazyAttribute(lambda t: f"Sales tax {t.code}")


class TaxRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.TaxRate

    tax_code = factory.SubFactory(TaxCodeFactory)
    rate = Decimal("10")
    effective_from = dt.date(2020, 1, 1)


def standard_tax_code() -> models.TaxCode:
    """The STD tax code at 10% since 2020, made on first use."""
    tax_code, created = models.TaxCode.objects.get_or_create(
        code="STD", defaults={"name": "Standard sales tax"}
    )
    if created:
        TaxRateFactory(tax_code=tax_code, rate=Decimal("10"), effective_from=dt.date(2020, 1, 1))
    return tax_code


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Account

    number = factory.LazyFunction(lambda: next_number(models.NumberSeries.Key.ACCOUNT))
    name = factory.Faker("company")
    currency = factory.LazyFunction(currency)
    bill_cycle_day = 1
    batch = "Batch1"
    status = models.AccountStatus.ACTIVE


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Product
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Product {n}")
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")


class ChargeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Charge

    product = factory.SubFactory(ProductFactory)
    name = factory.Sequence(lambda n: f"Charge {n}")
    charge_type = models.ChargeType.RECURRING
    charge_model = models.ChargeModel.FLAT_FEE
    billing_period = factory.LazyAttribute(
        lambda c: models.BillingPeriod.MONTH if c.charge_type == models.ChargeType.RECURRING else ""
    )
    unit_of_measure = factory.LazyAttribute(
        lambda c: "GB" if c.charge_type == models.ChargeType.USAGE else ""
    )
    taxable = True
    tax_code = factory.LazyAttribute(lambda c: standard_tax_code() if c.taxable else None)


class ChargePriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ChargePrice
        django_get_or_create = ("charge", "currency")

    charge = factory.SubFactory(ChargeFactory)
    currency = factory.LazyFunction(currency)
    list_price = Decimal("50")


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Subscription

    number = factory.LazyFunction(lambda: next_number(models.NumberSeries.Key.SUBSCRIPTION))
    account = factory.SubFactory(AccountFactory)
    start_date = dt.date(2026, 1, 1)


class SubscriptionChargeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.SubscriptionCharge

    subscription = factory.SubFactory(SubscriptionFactory)
    charge = factory.SubFactory(ChargeFactory)
    price = Decimal("50")
    quantity = Decimal("1")
    start_date = factory.SelfAttribute("subscription.start_date")


class UsageRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.UsageRecord

    subscription_charge = factory.SubFactory(
        SubscriptionChargeFactory,
        charge__charge_type=models.ChargeType.USAGE,
        charge__charge_model=models.ChargeModel.PER_UNIT,
    )
    usage_date = dt.date(2026, 10, 15)
    quantity = Decimal("10")
    unit_of_measure = factory.SelfAttribute("subscription_charge.charge.unit_of_measure")


class InvoiceFactory(factory.django.DjangoModelFactory):
    """A Posted invoice without items: add InvoiceItemFactory rows, or use create_invoice."""

    class Meta:
        model = models.Invoice

    number = factory.LazyFunction(lambda: next_number(models.NumberSeries.Key.INVOICE))
    account = factory.SubFactory(AccountFactory)
    currency = factory.SelfAttribute("account.currency")
    invoice_date = TODAY
    due_date = factory.LazyAttribute(lambda i: i.invoice_date + dt.timedelta(days=30))
    status = models.InvoiceStatus.POSTED
    amount_excl_tax = Decimal("100")
    tax_amount = Decimal("10")
    amount = factory.LazyAttribute(lambda i: i.amount_excl_tax + i.tax_amount)
    balance = factory.LazyAttribute(
        lambda i: i.amount if i.status == models.InvoiceStatus.POSTED else Decimal("0")
    )


class InvoiceItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.InvoiceItem

    invoice = factory.SubFactory(InvoiceFactory)
    charge = factory.SubFactory(ChargeFactory)
    charge_name = factory.SelfAttribute("charge.name")
    sort_order = factory.Sequence(lambda n: n)
    quantity = Decimal("1")
    unit_price = Decimal("100")
    amount_excl_tax = Decimal("100")
    tax_code = factory.SelfAttribute("charge.tax_code")
    tax_amount = Decimal("10")
    amount = factory.LazyAttribute(lambda i: i.amount_excl_tax + i.tax_amount)
    balance = factory.SelfAttribute("amount")


class BillRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.BillRun

    number = factory.LazyFunction(lambda: next_number(models.NumberSeries.Key.BILL_RUN))
    invoice_date = TODAY
    target_date = TODAY
    status = models.BillRunStatus.COMPLETED


class BillRunErrorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.BillRunError

    bill_run = factory.SubFactory(BillRunFactory)
    account = factory.SubFactory(AccountFactory)
    reason = "Account has no bill-to contact"


class BillRunChunkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.BillRunChunk

    bill_run = factory.SubFactory(BillRunFactory)
    sequence = factory.Sequence(lambda n: n + 1)
    account_ids = factory.LazyFunction(list)


class BilledPeriodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.BilledPeriod

    subscription_charge = factory.SubFactory(SubscriptionChargeFactory)
    period_start = factory.LazyAttribute(lambda o: o.subscription_charge.start_date)
    period_end = factory.LazyAttribute(lambda o: o.period_start)
    bill_run = factory.SubFactory(BillRunFactory)


class DocumentEmailFactory(factory.django.DjangoModelFactory):
    """A sent email of a posted invoice (DOMAIN.md 7); pass memo= and kind= for a memo's."""

    class Meta:
        model = models.DocumentEmail

    kind = models.DocumentKind.INVOICE
    invoice = factory.SubFactory(InvoiceFactory)
    number = factory.LazyAttribute(lambda e: (e.invoice or e.memo).number)
    to_address = "ap@example.com"
    subject = factory.LazyAttribute(lambda e: f"Invoice {e.number}")
    status = models.EmailStatus.SENT
    attempts = 1
