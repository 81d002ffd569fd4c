"""The billing domain: reference data, accounts, catalog, subscriptions, invoices, bill runs."""

from .accounts import Account, AccountStatus, batch_choices
from .bill_runs import (
    RUNNING_STATUSES,
    BilledPeriod,
    BillRun,
    BillRunChunk,
    BillRunError,
    BillRunScope,
    BillRunStatus,
    ChunkStatus,
)
from .catalog import BillingPeriod, Charge, ChargeModel, ChargePrice, ChargeType, Product
from .documents import DocumentEmail, DocumentKind, EmailStatus
from .invoices import Invoice, InvoiceItem, InvoiceStatus, TaxMode
from .reference import (
    AccountingPeriod,
    AccountingPeriodEvent,
    ApplicationRule,
    BillingSettings,
    CreditValidationLevel,
    Currency,
    GenerationRule,
    NumberSeries,
    PeriodStatus,
    TaxCode,
    TaxEngine,
    TaxRate,
)
from .subscriptions import Subscription, SubscriptionCharge, SubscriptionStatus, UsageRecord

__all__ = [
    "Account",
    "AccountStatus",
    "AccountingPeriod",
    "AccountingPeriodEvent",
    "ApplicationRule",
    "BillRun",
    "BillRunChunk",
    "BilledPeriod",
    "ChunkStatus",
    "RUNNING_STATUSES",
    "BillRunError",
    "BillRunScope",
    "BillRunStatus",
    "BillingPeriod",
    "BillingSettings",
    "Charge",
    "ChargeModel",
    "ChargePrice",
    "ChargeType",
    "CreditValidationLevel",
    "Currency",
    "DocumentEmail",
    "DocumentKind",
    "EmailStatus",
    "GenerationRule",
    "Invoice",
    "InvoiceItem",
    "InvoiceStatus",
    "NumberSeries",
    "PeriodStatus",
    "Product",
    "Subscription",
    "SubscriptionCharge",
    "SubscriptionStatus",
    "TaxCode",
    "TaxEngine",
    "TaxMode",
    "TaxRate",
    "UsageRecord",
    "batch_choices",
]
