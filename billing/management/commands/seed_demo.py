"""`manage.py seed_demo`: load deterministic, realistic demo data into an empty database.

Every run makes the same data: the random choices come from generators seeded with SEED and every
date is relative to ANCHOR (a fixed "today"), never the real date. Everything is written in one
transaction:

- tax codes (STD 10%, RED 5%) and a catalog with one-time, recurring (month, quarter, year), usage,
  discount and negative-priced credit charges, each priced in USD, EUR and JPY;
- ACCOUNT_COUNT accounts (mostly USD, some EUR and JPY) over batches and bill cycle days, a few
  Inactive and a few without a subscription yet;
- subscriptions billed in advance up to ANCHOR, so their charged-through dates are set, with usage
  records (the older ones billed in arrears, most not yet), and on CREDIT_ACCOUNTS a credit that
  starts at ANCHOR and outweighs the other charges, so the next bill run makes a credit memo;
- the invoices of those billing periods, made by billing.services.create_invoice (numbered in date
  order and taxed by the built-in engine), posted except the latest one of a few accounts;
- accounting periods: CLOSED_PERIOD closed, the months after it open;
- a few credit and debit memos (draft and posted, from charges and from an invoice);
- with `--demo-users` only, one demo user per role (DEMO_USERS), all with the published password
  DEMO_PASSWORD; without it, the demo memos are created by an inactive user that cannot sign in,
  so the command never leaves a known password on a database.

`--if-empty` does nothing when an account exists already (`make run` uses it with `--demo-users`,
so the demo users are only ever created together with the demo data, in an empty database).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import factory.random
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from faker import Faker

from billing import roles, tax
from billing.factories import (
    AccountFactory,
    ChargeFactory,
    ChargePriceFactory,
    ProductFactory,
    SubscriptionFactory,
    TaxCodeFactory,
    TaxRateFactory,
    UserFactory,
    currency,
    standard_tax_code,
)
from billing.models import (
    Account,
    AccountingPeriod,
    AccountStatus,
    BilledPeriod,
    BillingPeriod,
    Charge,
    ChargeModel,
    ChargeType,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    PeriodStatus,
    Product,
    SubscriptionCharge,
    SubscriptionStatus,
    TaxCode,
    TaxMode,
    UsageRecord,
)
from billing.money import ZERO, round_money
from billing.periods import add_months
from billing.services import InvoiceLine, create_invoice
from memos.factories import MemoEventFactory, MemoFactory, MemoItemFactory
from memos.models import (
    Memo,
    MemoEvent,
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCode,
    TransferStatus,
)
from memos.models import ReasonCodeType as RCT
from memos.services.insight import rebuild_credit_insight

SEED = "memodesk"
ANCHOR = dt.date(2026, 11, 1)  # the demo's "today": billed up to here, memos dated before it
ONE_DAY = dt.timedelta(days=1)
DEMO_PASSWORD = "memodesk-demo"

# --- Tax codes: (code, name, [(rate %, effective from, effective to)]) --------------------------
# STD comes from billing.factories.standard_tax_code() (10% since 2020).
REDUCED_TAX = (
    "RED",
    "Reduced rate (training)",
    [
        (Decimal("4"), dt.date(2020, 1, 1), dt.date(2025, 12, 31)),
        (Decimal("5"), dt.date(2026, 1, 1), None),
    ],
)


def seed_data_user():
    """The creator of the demo memos when no demo users are wanted: inactive, no password."""
    user = get_user_model().objects.create(
        username=DATA_USERNAME, first_name="Demo", last_name="data", is_active=False
    )
    user.set_unusable_password()
    user.save(update_fields=["password"])
    return user


# --- Catalog --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChargeSpec:
    name: str
    charge_type: str
    charge_model: str
    prices: tuple[str, str, str]  # list price in USD, EUR, JPY
    billing_period: str = ""
    unit_of_measure: str = ""
    tax_code: str | None = "STD"  # None: not taxable


@dataclass(frozen=True)
class ProductSpec:
    name: str
    sku: str
    description: str
    charges: tuple[ChargeSpec, ...]


CURRENCIES = ("USD", "EUR", "JPY")
FLAT, PER_UNIT, DISCOUNT = ChargeModel.FLAT_FEE, ChargeModel.PER_UNIT, ChargeModel.DISCOUNT
MONTH, QUARTER, YEAR = BillingPeriod.MONTH, BillingPeriod.QUARTER, BillingPeriod.YEAR


def recurring(name, model, prices, period, **options) -> ChargeSpec:
    return ChargeSpec(name, ChargeType.RECURRING, model, prices, billing_period=period, **options)


def one_time(name, model, prices, **options) -> ChargeSpec:
    return ChargeSpec(name, ChargeType.ONE_TIME, model, prices, **options)


def usage_charge(name, prices, unit_of_measure) -> ChargeSpec:
    return ChargeSpec(name, ChargeType.USAGE, PER_UNIT, prices, unit_of_measure=unit_of_measure)


# One line per charge: name, model, list prices in USD, EUR and JPY, billing period, options.
CATALOG = (
    ProductSpec("Memodesk Platform", "PLAT-001", "The billing desk, licensed per user.", (
        recurring("Platform Subscription", PER_UNIT, ("25.00", "23.00", "3600"), MONTH,
                  unit_of_measure="User"),
        recurring("Platform Subscription (Annual)", PER_UNIT, ("270.00", "250.00", "39000"), YEAR,
                  unit_of_measure="User"),
        recurring("Annual Commitment Discount", DISCOUNT, ("-20.00", "-18.00", "-3000"), MONTH),
        recurring("Loyalty Credit", FLAT, ("-10.00", "-9.00", "-1500"), MONTH),
        recurring("Retention Credit", FLAT, ("-150.00", "-140.00", "-22000"), MONTH),
    )),
    ProductSpec("Premium Support", "SUPP-001", "Faster answers and a named contact.", (
        recurring("Premium Support", FLAT, ("450.00", "420.00", "65000"), QUARTER),
        recurring("Dedicated Success Manager", FLAT, ("800.00", "750.00", "120000"), MONTH),
    )),
    ProductSpec("Data Services", "DATA-001", "Metered data transfer and API access.", (
        usage_charge("Data Transfer", ("0.12", "0.11", "18"), "GB"),
        usage_charge("API Calls", ("0.50", "0.45", "75"), "1K calls"),
    )),
    ProductSpec("Professional Services", "PS-001", "Onboarding and training.", (
        one_time("Setup Fee", FLAT, ("500.00", "460.00", "75000")),
        one_time("Training Day", PER_UNIT, ("1200.00", "1100.00", "180000"),
                 unit_of_measure="Day", tax_code="RED"),
        one_time("Travel Expenses", FLAT, ("350.00", "320.00", "50000"), tax_code=None),
    )),
)  # fmt: skip

# --- Accounts -------------------------------------------------------------------------------------
ACCOUNT_COUNT = 60
CURRENCY_CYCLE = ("USD", "USD", "EUR", "USD", "JPY", "USD", "USD", "EUR", "USD", "USD")
EUR_LOCALES = ("de_DE", "fr_FR", "nl_NL")
LOCALES = ("en_US", *EUR_LOCALES, "ja_JP")
LEGAL_SUFFIX = {"de_DE": "GmbH", "fr_FR": "SAS", "nl_NL": "B.V.", "en_US": "Inc."}
BATCHES = ("Batch1", "Batch1", "Batch2", "Batch2", "Batch3", "Batch4", "Batch5")
BILL_CYCLE_DAYS = (1, 1, 1, 1, 5, 10, 15, 15, 20, 25, 28)
# Account positions (0-based, in creation order) with a special part in the demo.
INACTIVE_ACCOUNTS = {17, 43}  # subscription canceled at INACTIVE_END, no longer billed
NEW_ACCOUNTS = {56, 57, 58, 59}  # no subscription yet
CREDIT_ACCOUNTS = {3, 7, 14}  # USD, EUR, JPY: a credit from ANCHOR bigger than their charges
INACTIVE_END = dt.date(2026, 9, 30)
FIRST_START = dt.date(2026, 6, 1)  # subscriptions start in June..October
USAGE_FROM = dt.date(2026, 9, 26)  # usage is recorded from here up to the day before ANCHOR

# --- Accounting periods ---------------------------------------------------------------------------
CLOSED_PERIOD = (2026, 7)
OPEN_PERIODS = ((2026, 8), (2026, 9), (2026, 10), (2026, 11), (2026, 12), (2027, 1))

# --- Users: username -> (first name, last name, groups, superuser) --------------------------------
DATA_USERNAME = "demo-data"
DEMO_USERS = {
    "admin": ("Dana", "Whitfield", [roles.BILLING_ADMIN], True),
    "operator": ("Oscar", "Martinez", [roles.BILLING_OPERATOR], False),
    "reviewer": ("Rita", "Chen", [roles.ACCOUNTING_REVIEWER], False),
    "viewer": ("Victor", "Novak", [roles.BILLING_VIEWER], False),
    "approver": ("Ada", "Quinn", [roles.BILLING_APPROVER], False),
}


@dataclass
class PlannedInvoice:
    """An invoice to create, with the usage records each of its usage lines bills."""

    account: Account
    invoice_date: dt.date
    lines: list[InvoiceLine]
    post: bool = True
    usage: dict[int, list[UsageRecord]] = field(default_factory=dict)  # sort order -> records


class Command(BaseCommand):
    help = (
        "Load deterministic demo data (accounts, catalog, subscriptions, invoices, memos, users)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if any account exists already.",
        )
        parser.add_argument(
            "--demo-users",
            action="store_true",
            help=f"Also create one user per role with the published password {DEMO_PASSWORD!r}.",
        )

    def handle(self, *args, if_empty: bool = False, demo_users: bool = False, **options):
        if Account.objects.exists():
            if if_empty:
                self.stdout.write("Accounts exist already: demo data not loaded.")
                return
            raise CommandError(
                "The database has accounts already; seed_demo loads into an empty database "
                "(use --if-empty to skip quietly)."
            )
        started = time.monotonic()
        with transaction.atomic():
            seed_all(demo_users=demo_users)
            # Posted demo memos are written directly: the credit insight's sums from them.
            rebuild_credit_insight()
        self.stdout.write(summary())
        if demo_users:
            self.stdout.write(
                self.style.WARNING(
                    "Created the demo users {} with the password {!r}: for a demo only, never "
                    "on a database with real data.".format(", ".join(DEMO_USERS), DEMO_PASSWORD)
                )
            )
        self.stdout.write(
            self.style.SUCCESS(f"Demo data loaded in {time.monotonic() - started:.1f}s.")
        )


def seed_all(*, demo_users: bool = False) -> None:
    factory.random.reseed_random(SEED)
    rng = random.Random(SEED)
    actor = seed_users()["operator"] if demo_users else seed_data_user()
    charges = seed_catalog()
    accounts = seed_accounts()
    planned, usage_records = seed_subscriptions(accounts, charges, rng)
    create_invoices(planned)
    UsageRecord.objects.bulk_create(usage_records)
    seed_periods()
    seed_memos(charges, actor=actor)
    # Apps above billing add their own demo data (payments: payment methods, Auto-Pay): an app
    # config with a `seed_demo(actor=...)` method, so this command imports none of them.
    for app_config in django_apps.get_app_configs():
        seed = getattr(app_config, "seed_demo", None)
        if callable(seed):
            seed(actor=actor)


# --- Users ----------------------------------------------------------------------------------------
def seed_users() -> dict:
    users = {}
    for username, (first, last, groups, superuser) in DEMO_USERS.items():
        users[username] = UserFactory(
            username=username,
            first_name=first,
            last_name=last,
            email=f"{username}@memodesk.example",
            is_staff=superuser,
            is_superuser=superuser,
            password=DEMO_PASSWORD,
            roles=groups,
        )
    return users


# --- Catalog --------------------------------------------------------------------------------------
def seed_tax_codes() -> dict[str, TaxCode]:
    code, name, rates = REDUCED_TAX
    reduced = TaxCodeFactory(code=code, name=name)
    for rate, start, end in rates:
        TaxRateFactory(tax_code=reduced, rate=rate, effective_from=start, effective_to=end)
    return {"STD": standard_tax_code(), code: reduced}


def seed_catalog() -> dict[str, Charge]:
    tax_codes = seed_tax_codes()
    currencies = {code: currency(code) for code in CURRENCIES}
    charges = {}
    for spec in CATALOG:
        product = ProductFactory(name=spec.name, sku=spec.sku, description=spec.description)
        for item in spec.charges:
            charge = ChargeFactory(
                product=product,
                name=item.name,
                charge_type=item.charge_type,
                charge_model=item.charge_model,
                billing_period=item.billing_period,
                unit_of_measure=item.unit_of_measure,
                taxable=item.tax_code is not None,
                tax_code=tax_codes.get(item.tax_code),
            )
            for code, price in zip(CURRENCIES, item.prices, strict=True):
                ChargePriceFactory(
                    charge=charge, currency=currencies[code], list_price=Decimal(price)
                )
            charges[item.name] = charge
    return charges


LIST_PRICES = {
    (charge.name, code): Decimal(price)
    for product in CATALOG
    for charge in product.charges
    for code, price in zip(CURRENCIES, charge.prices, strict=True)
}


# --- Accounts -------------------------------------------------------------------------------------
_FAKERS: dict[str, Faker] = {}  # made once per process (slow to make), seeded on every run


def company_namer():
    """A function giving company names for a currency, from Faker generators seeded with SEED."""
    for locale in LOCALES:
        if locale not in _FAKERS:
            _FAKERS[locale] = Faker(locale)
        _FAKERS[locale].seed_instance(f"{SEED}-{locale}")
    eur_count = 0

    def name_for(code: str) -> str:
        nonlocal eur_count
        if code == "EUR":
            locale = EUR_LOCALES[eur_count % len(EUR_LOCALES)]
            eur_count += 1
        else:
            locale = "ja_JP" if code == "JPY" else "en_US"
        name = _FAKERS[locale].company()
        if " " not in name and locale in LEGAL_SUFFIX:
            name = f"{name} {LEGAL_SUFFIX[locale]}"
        return name

    return name_for


def seed_accounts() -> list[Account]:
    rng = random.Random(f"{SEED}-accounts")
    name_for = company_namer()
    accounts = []
    for index in range(ACCOUNT_COUNT):
        code = CURRENCY_CYCLE[index % len(CURRENCY_CYCLE)]
        accounts.append(
            AccountFactory(
                name=name_for(code),
                currency=currency(code),
                batch=rng.choice(BATCHES),
                bill_cycle_day=1 if index in CREDIT_ACCOUNTS else rng.choice(BILL_CYCLE_DAYS),
                status=AccountStatus.INACTIVE
                if index in INACTIVE_ACCOUNTS
                else AccountStatus.ACTIVE,
            )
        )
    return accounts


# --- Subscriptions and usage ----------------------------------------------------------------------
def seed_subscriptions(
    accounts: list[Account], charges: dict[str, Charge], rng: random.Random
) -> tuple[list[PlannedInvoice], list[UsageRecord]]:
    """Subscribe every account but the new ones; return the invoices billing them, and usage."""
    planned: list[PlannedInvoice] = []
    usage_records: list[UsageRecord] = []
    for index, account in enumerate(accounts):
        if index in NEW_ACCOUNTS:
            continue
        end = INACTIVE_END if index in INACTIVE_ACCOUNTS else None
        start = subscription_start(account, rng, months=2 if end else 5)
        subscription = SubscriptionFactory(
            account=account,
            start_date=start,
            end_date=end,
            status=SubscriptionStatus.CANCELLED if end else SubscriptionStatus.ACTIVE,
        )
        plan = credit_plan(start) if index in CREDIT_ACCOUNTS else subscription_plan(start, rng)
        sub_charges = [
            SubscriptionCharge(
                subscription=subscription,
                charge=charges[name],
                price=negotiated_price(charges[name], account, rng),
                quantity=Decimal(quantity),
                start_date=charge_start,
                end_date=end,
            )
            for name, quantity, charge_start in plan
        ]
        usage_by_charge = [(sc, record_usage(sc, rng)) for sc in sub_charges if is_usage(sc)]
        account_invoices = schedule_invoices(account, sub_charges, usage_by_charge)
        if account_invoices and index % 5 == 1 and index not in INACTIVE_ACCOUNTS:
            account_invoices[-1].post = False  # the latest invoice is still a draft
        SubscriptionCharge.objects.bulk_create(sub_charges)
        planned += account_invoices
        usage_records += [record for _, records in usage_by_charge for record in records]
    return planned, usage_records


def subscription_start(account: Account, rng: random.Random, *, months: int) -> dt.date:
    """On the account's bill cycle day in one of the `months` months from FIRST_START."""
    month = add_months(FIRST_START, rng.randrange(months))
    return month.replace(day=min(account.bill_cycle_day, 28))


def subscription_plan(start: dt.date, rng: random.Random) -> list[tuple[str, int, dt.date]]:
    """(charge name, quantity, start date) of a typical subscription, chosen at random."""
    seats = rng.choice((5, 8, 12, 20, 25, 40, 60, 120))
    annual = rng.random() < 0.15
    plan = [("Platform Subscription (Annual)" if annual else "Platform Subscription", seats, start)]
    optional = [
        (0.4, "Premium Support", 1),
        (0.1, "Dedicated Success Manager", 1),
        (0.7, "Setup Fee", 1),
        (0.25, "Training Day", rng.randint(1, 3)),
        (0.1, "Travel Expenses", 1),
        (0.6, "Data Transfer", 1),
        (0.5, "API Calls", 1),
    ]
    if not annual:  # credits only beside a monthly fee, so no invoice goes negative
        optional += [(0.2, "Loyalty Credit", 1), (0.15, "Annual Commitment Discount", 1)]
    plan += [(name, qty, start) for chance, name, qty in optional if rng.random() < chance]
    return plan


def credit_plan(start: dt.date) -> list[tuple[str, int, dt.date]]:
    """A small monthly subscription plus a retention credit from ANCHOR that outweighs it."""
    return [
        ("Platform Subscription", 8, start),
        ("Setup Fee", 1, start),
        ("Retention Credit", 2, ANCHOR),
    ]


def negotiated_price(charge: Charge, account: Account, rng: random.Random) -> Decimal:
    """The list price in the account's currency; some customers negotiated 10% off the platform."""
    price = LIST_PRICES[charge.name, account.currency_id]
    if charge.name == "Platform Subscription" and rng.random() < 0.2:
        price = round_money(price * Decimal("0.9"), account.currency)
    return price


def is_usage(sub_charge: SubscriptionCharge) -> bool:
    return sub_charge.charge.charge_type == ChargeType.USAGE


def record_usage(sub_charge: SubscriptionCharge, rng: random.Random) -> list[UsageRecord]:
    """Usage every few days from USAGE_FROM (or the charge's start) to the day before ANCHOR
    (or the charge's end)."""
    records = []
    day = max(USAGE_FROM, sub_charge.start_date) + dt.timedelta(days=rng.randint(0, 2))
    last_day = min(ANCHOR - ONE_DAY, sub_charge.end_date or ANCHOR)
    while day <= last_day:
        if sub_charge.charge.unit_of_measure == "GB":
            quantity = Decimal(rng.randint(50, 4000)) / 10
        else:
            quantity = Decimal(rng.randint(20, 900))
        records.append(
            UsageRecord(
                subscription_charge=sub_charge,
                usage_date=day,
                quantity=quantity,
                unit_of_measure=sub_charge.charge.unit_of_measure,
            )
        )
        day += dt.timedelta(days=rng.randint(2, 5))
    return records


def schedule_invoices(
    account: Account,
    sub_charges: list[SubscriptionCharge],
    usage: list[tuple[SubscriptionCharge, list[UsageRecord]]],
) -> list[PlannedInvoice]:
    """Bill every period starting before ANCHOR (recurring in advance, usage in arrears).

    Sets each billed charge's charged-through date (the first day not yet billed). Usage is
    billed on each invoice date for the records before it (records are in date order).
    """
    lines_by_day: dict[dt.date, list[InvoiceLine]] = defaultdict(list)
    for sc in sub_charges:
        for line in charge_lines(sc):
            lines_by_day[line.service_start].append(line)
            sc.charged_through_date = line.service_end + ONE_DAY
    billed = [0] * len(usage)  # per usage charge: how many of its records are billed
    invoices = []
    for day in sorted(lines_by_day):
        invoice = PlannedInvoice(account=account, invoice_date=day, lines=lines_by_day[day])
        for position, (sc, records) in enumerate(usage):
            due = [r for r in records[billed[position] :] if r.usage_date < day]
            if due:
                invoice.lines.append(usage_line(sc, due))
                invoice.usage[len(invoice.lines)] = due
                billed[position] += len(due)
                sc.charged_through_date = day
        invoices.append(invoice)
    return invoices


def charge_lines(sc: SubscriptionCharge) -> list[InvoiceLine]:
    """The invoice lines of a recurring or one-time charge's periods starting before ANCHOR."""
    charge = sc.charge
    description = f"Subscription {sc.subscription.number}"
    if charge.charge_type == ChargeType.ONE_TIME:
        if sc.start_date >= ANCHOR:
            return []
        day = sc.start_date
        return [
            InvoiceLine(
                charge, sc.quantity, sc.price, description, day, day, subscription_charge=sc
            )
        ]
    if charge.charge_type != ChargeType.RECURRING:
        return []
    months = BillingPeriod(charge.billing_period).months
    lines = []
    n = 0
    while True:
        start = add_months(sc.start_date, n * months)
        if start >= ANCHOR or (sc.end_date and start > sc.end_date):
            return lines
        end = add_months(sc.start_date, (n + 1) * months) - ONE_DAY
        lines.append(
            InvoiceLine(
                charge, sc.quantity, sc.price, description, start, end, subscription_charge=sc
            )
        )
        n += 1


def usage_line(sc: SubscriptionCharge, records: list[UsageRecord]) -> InvoiceLine:
    quantity = sum((r.quantity for r in records), ZERO)
    return InvoiceLine(
        charge=sc.charge,
        quantity=quantity,
        unit_price=sc.price,
        description=f"{len(records)} usage records, subscription {sc.subscription.number}",
        service_start=min(r.usage_date for r in records),
        service_end=max(r.usage_date for r in records),
        subscription_charge=sc,
    )


# --- Invoices -------------------------------------------------------------------------------------
def create_invoices(planned: list[PlannedInvoice]) -> None:
    """Create the planned invoices in date order (as bill runs would number them)."""
    for plan in sorted(planned, key=lambda p: (p.invoice_date, p.account.number)):
        invoice = create_invoice(
            account=plan.account, invoice_date=plan.invoice_date, lines=plan.lines, post=plan.post
        )
        record_billed_periods(invoice, plan)


def record_billed_periods(invoice: Invoice, plan: PlannedInvoice) -> None:
    """What a bill run would have recorded: each subscription line's billed period, and the
    usage records it billed."""
    items = [item for item in invoice.items.all() if item.subscription_charge_id]
    periods = BilledPeriod.objects.bulk_create(
        BilledPeriod(
            subscription_charge_id=item.subscription_charge_id,
            period_start=item.service_start,
            period_end=item.service_end,
        )
        for item in items
    )
    for item, period in zip(items, periods, strict=True):
        item.billed_period = period
        for record in plan.usage.get(item.sort_order, []):
            record.billed_period = period
    InvoiceItem.objects.bulk_update(items, ["billed_period"])


# --- Accounting periods ---------------------------------------------------------------------------
def month_period(year: int, month: int, status: str) -> AccountingPeriod:
    start = dt.date(year, month, 1)
    return AccountingPeriod.objects.create(
        name=f"{start:%Y-%m}",
        start_date=start,
        end_date=add_months(start, 1) - ONE_DAY,
        status=status,
    )


def seed_periods() -> None:
    """Made after the invoices: the closed month's invoices were posted before it was closed."""
    month_period(*CLOSED_PERIOD, PeriodStatus.CLOSED)
    for year, month in OPEN_PERIODS:
        month_period(year, month, PeriodStatus.OPEN)


# --- Memos ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemoLine:
    charge: Charge
    amount: Decimal  # excluding tax
    quantity: Decimal = Decimal(1)
    description: str = ""
    invoice_item: InvoiceItem | None = None


def seed_memos(charges: dict[str, Charge], *, actor) -> None:
    """A few memos in every state the desk shows: draft and posted, credit and debit."""
    credit_from_invoice(invoice_for_memo("USD"), share=Decimal("0.25"), posted=True, actor=actor)
    credit_from_invoice(invoice_for_memo("EUR"), share=Decimal("0.1"), posted=False, actor=actor)
    usd, eur, jpy = (subscribed_accounts(code) for code in CURRENCIES)
    memo_from_charges(
        MemoType.CREDIT, usd[5], "Service Unavailable", posted=False, actor=actor,
        lines=[MemoLine(charges["Premium Support"], Decimal("150.00"),
                        description="Support outage Oct 12-14")],
        comments="Credit for the support outage of October 12-14.",
    )  # fmt: skip
    memo_from_charges(
        MemoType.CREDIT, eur[2], "Ad hoc Credit", posted=True, actor=actor,
        transferred=TransferStatus.YES,
        lines=[MemoLine(charges["Platform Subscription"], Decimal("46.00"), Decimal(2),
                        description="Goodwill: two seats for October")],
    )  # fmt: skip
    memo_from_charges(
        MemoType.CREDIT, usd[8], "Unsatisfactory Service", posted=True, actor=actor,
        transferred=TransferStatus.PROCESSING,
        lines=[MemoLine(charges["Data Transfer"], Decimal("36.00"), Decimal(300),
                        description="Transfer billed twice in September")],
    )  # fmt: skip
    memo_from_charges(
        MemoType.DEBIT, usd[11], "Ad hoc Debit", posted=True, actor=actor,
        lines=[MemoLine(charges["Training Day"], Decimal("1200.00"),
                        description="Extra training day, October 20"),
               MemoLine(charges["Travel Expenses"], Decimal("180.00"),
                        description="Trainer travel")],
    )  # fmt: skip
    memo_from_charges(
        MemoType.DEBIT, jpy[2], "Ad hoc Debit", posted=False, actor=actor,
        lines=[MemoLine(charges["Setup Fee"], Decimal("75000"),
                        description="Setup of a second office")],
    )  # fmt: skip


def subscribed_accounts(code: str) -> list[Account]:
    return list(
        Account.objects.filter(
            currency_id=code, status=AccountStatus.ACTIVE, subscriptions__isnull=False
        ).order_by("number")
    )


def invoice_for_memo(code: str) -> Invoice:
    """The first posted invoice in `code` with two or more items, after the closed period."""
    return (
        Invoice.objects.filter(
            currency_id=code, status=InvoiceStatus.POSTED, invoice_date__gte=dt.date(2026, 9, 1)
        )
        .annotate(item_count=Count("items"))
        .filter(item_count__gte=2)
        .order_by("number")
        .first()
    )


def credit_from_invoice(invoice: Invoice, *, share: Decimal, posted: bool, actor) -> Memo:
    """A credit memo for about `share` of the invoice's first item (well below its total)."""
    item = invoice.items.order_by("sort_order").first()
    memo_date = min(invoice.invoice_date + dt.timedelta(days=12), ANCHOR - ONE_DAY)
    amount = round_money(item.amount_excl_tax * share, invoice.currency)
    line = MemoLine(
        item.charge, amount, description=f"Partial credit: {item.charge_name}", invoice_item=item
    )
    return create_memo(
        MemoType.CREDIT,
        invoice.account,
        "Charge Dispute",
        lines=[line],
        memo_date=memo_date,
        posted=posted,
        actor=actor,
        source=MemoSource.INVOICE,
        invoice=invoice,
        apply_to_invoice_on_post=not posted,
        comments=f"Customer disputed part of {invoice.number}.",
    )


def memo_from_charges(memo_type: str, account: Account, reason: str, **kwargs) -> Memo:
    return create_memo(
        memo_type,
        account,
        reason,
        memo_date=ANCHOR - dt.timedelta(days=6),
        source=MemoSource.CHARGES,
        **kwargs,
    )


def create_memo(
    memo_type: str,
    account: Account,
    reason: str,
    *,
    lines: list[MemoLine],
    memo_date: dt.date,
    posted: bool,
    actor,
    source: str,
    invoice: Invoice | None = None,
    transferred: str = TransferStatus.NO,
    apply_to_invoice_on_post: bool = False,
    comments: str = "",
) -> Memo:
    """A memo whose header totals are the sums of its items, taxed by the built-in engine."""
    debit = memo_type == MemoType.DEBIT
    items = [memo_item_values(line, account, memo_date) for line in lines]
    net = sum((i["amount_excl_tax"] for i in items), ZERO)
    tax_amount = sum((i["tax_amount"] for i in items), ZERO)
    memo = MemoFactory(
        memo_type=memo_type,
        account=account,
        status=MemoStatus.POSTED if posted else MemoStatus.DRAFT,
        source=source,
        invoice=invoice,
        memo_date=memo_date,
        amount_excl_tax=net,
        tax_amount=tax_amount,
        balance=net + tax_amount if debit else ZERO,
        reason_code=ReasonCode.objects.get(
            code_type=RCT.DEBIT_MEMO if debit else RCT.CREDIT_MEMO, name=reason
        ),
        comments=comments,
        transferred_to_accounting=transferred,
        apply_to_invoice_on_post=apply_to_invoice_on_post,
        created_by=actor,
        posted_at=timezone.now() if posted else None,
    )
    for sort_order, values in enumerate(items, start=1):
        item = MemoItemFactory(memo=memo, sort_order=sort_order, **values)
        if debit:
            item.balance = item.amount
            item.save(update_fields=["balance"])
    MemoEventFactory(memo=memo, kind=MemoEvent.Kind.CREATED, actor=actor, message="Created")
    if posted:
        MemoEventFactory(memo=memo, kind=MemoEvent.Kind.POSTED, actor=actor, message="Posted")
    return memo


def memo_item_values(line: MemoLine, account: Account, memo_date: dt.date) -> dict:
    charge = line.charge
    source = line.invoice_item
    tax_code = source.tax_code if source else (charge.tax_code if charge.taxable else None)
    net, tax_amount = tax_of(line.amount, tax_code, memo_date, account.currency)
    return {
        "charge": charge,
        "charge_name": charge.name,
        "invoice_item": source,
        "description": line.description,
        "service_start": source.service_start if source else memo_date,
        "service_end": source.service_end if source else memo_date,
        "quantity": line.quantity,
        "unit_of_measure": charge.unit_of_measure,
        "unit_price": line.amount / line.quantity,
        "amount_excl_tax": net,
        "tax_code": tax_code,
        "tax_amount": tax_amount,
    }


def tax_of(
    amount: Decimal, tax_code: TaxCode | None, day: dt.date, currency_
) -> tuple[Decimal, Decimal]:
    """(net, tax) of a tax-excluded amount by the built-in engine."""
    taxed = tax.calculate(
        amount, tax_code=tax_code, day=day, mode=TaxMode.EXCLUSIVE, currency=currency_
    )
    return taxed.amount_excl_tax, taxed.tax_amount


# --- Summary --------------------------------------------------------------------------------------
def summary() -> str:
    currencies = Counter(Account.objects.values_list("currency_id", flat=True))
    invoices = Counter(Invoice.objects.values_list("status", flat=True))
    memos = Counter(Memo.objects.values_list("memo_type", "status"))
    usage_records = UsageRecord.objects
    return "\n".join(
        [
            "Accounts: {} ({})".format(
                sum(currencies.values()),
                ", ".join(f"{code} {n}" for code, n in sorted(currencies.items())),
            ),
            f"Catalog: {Product.objects.count()} products, {Charge.objects.count()} charges",
            f"Subscription charges: {SubscriptionCharge.objects.count()}, usage records: "
            f"{usage_records.filter(billed_period__isnull=False).count()} billed, "
            f"{usage_records.filter(billed_period__isnull=True).count()} unbilled",
            f"Invoices: {invoices[InvoiceStatus.POSTED]} posted, "
            f"{invoices[InvoiceStatus.DRAFT]} draft",
            "Memos: " + ", ".join(f"{t} {s} {n}" for (t, s), n in sorted(memos.items())),
            f"Accounting periods: {AccountingPeriod.objects.count()} "
            f"({AccountingPeriod.objects.filter(status=PeriodStatus.CLOSED).count()} closed)",
        ]
    )
