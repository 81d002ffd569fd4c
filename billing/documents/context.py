"""What a customer document shows (DOMAIN.md 7), for the PDF templates and the email.

One builder per kind of document; each reads the document with its items in a fixed number of
queries (however many items), and says which template renders it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from billing.models import Account, BillingSettings, Invoice, InvoiceItem, InvoiceStatus
from billing.money import money_label
from memos.models import Memo, MemoItem, MemoStatus, MemoType

TEMPLATES = {
    "invoice": "documents/invoice.html",
    "credit_memo": "documents/credit_memo.html",
    "debit_memo": "documents/debit_memo.html",
}
TITLES = {"invoice": "Invoice", "credit_memo": "Credit Memo", "debit_memo": "Debit Memo"}


@dataclass
class Party:
    name: str
    address_lines: list[str] = field(default_factory=list)
    email: str = ""
    tax_id: str = ""
    account_number: str = ""


@dataclass
class CustomerDocument:
    """A document as its customer reads it."""

    kind: str  # invoice, credit_memo, debit_memo
    number: str
    document: Invoice | Memo
    account: Account
    currency: object
    draft: bool
    posted: bool
    facts: list[tuple[str, str]]
    items: list
    totals: list[tuple[str, object]]

    @property
    def watermark(self) -> str:
        if self.draft:
            return "DRAFT"
        return "CANCELED" if self.document.status == "canceled" else ""

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    @property
    def template_name(self) -> str:
        return TEMPLATES[self.kind]

    @property
    def amount_label(self) -> str:
        return money_label(self.document.amount, self.currency)

    @property
    def filename(self) -> str:
        return f"{self.number}.pdf"


def lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def bill_to(account: Account) -> Party:
    return Party(
        name=account.bill_to_name or account.name,
        address_lines=lines(account.bill_to_address),
        email=account.bill_to_email,
        account_number=account.number,
    )


def seller(settings: BillingSettings) -> Party:
    return Party(
        name=settings.seller_name,
        address_lines=lines(settings.seller_address),
        tax_id=settings.seller_tax_id,
    )


def day(value) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


def invoice_document(invoice: Invoice) -> CustomerDocument:
    invoice = Invoice.objects.select_related("account", "currency").get(pk=invoice.pk)
    items = list(
        InvoiceItem.objects.filter(invoice=invoice)
        .select_related("tax_code")
        .order_by("sort_order", "id")
    )
    posted = invoice.status == InvoiceStatus.POSTED
    totals = [
        ("Total excl. tax", invoice.amount_excl_tax),
        ("Tax", invoice.tax_amount),
        ("Total", invoice.amount),
    ]
    if posted:
        totals.append(("Balance due", invoice.balance))
    return CustomerDocument(
        kind="invoice",
        number=invoice.number,
        document=invoice,
        account=invoice.account,
        currency=invoice.currency,
        draft=invoice.status == InvoiceStatus.DRAFT,
        posted=posted,
        facts=[
            ("Invoice Date", day(invoice.invoice_date)),
            ("Due Date", day(invoice.due_date)),
            ("Account", invoice.account.number),
        ],
        items=items,
        totals=totals,
    )


def memo_document(memo: Memo) -> CustomerDocument:
    memo = Memo.objects.select_related("account", "currency", "invoice", "reason_code").get(
        pk=memo.pk
    )
    items = list(
        MemoItem.objects.filter(memo=memo).select_related("tax_code").order_by("sort_order", "id")
    )
    credit = memo.memo_type == MemoType.CREDIT
    posted = memo.status == MemoStatus.POSTED
    facts = [("Memo Date", day(memo.memo_date))]
    if not credit:
        # Memodesk has no payment terms: a debit memo is due on its memo date.
        facts.append(("Due Date", day(memo.memo_date)))
    if memo.invoice_id:
        facts.append(("Related Invoice", memo.invoice.number))
    if credit:
        facts.append(("Reason Code", memo.reason_code.name))
    facts.append(("Account", memo.account.number))
    totals = [
        ("Total excl. tax", memo.amount_excl_tax),
        ("Tax", memo.tax_amount),
        ("Total", memo.amount),
    ]
    if credit:
        totals += [
            ("Applied", memo.applied_amount),
            ("Refunded", memo.refund_amount),
            ("Unapplied", memo.unapplied_amount),
        ]
    elif posted:
        totals.append(("Balance due", memo.balance))
    return CustomerDocument(
        kind="credit_memo" if credit else "debit_memo",
        number=memo.number,
        document=memo,
        account=memo.account,
        currency=memo.currency,
        draft=memo.status == MemoStatus.DRAFT,
        posted=posted,
        facts=facts,
        items=items,
        totals=totals,
    )


def kind_of(document: Invoice | Memo) -> str:
    """invoice, credit_memo or debit_memo (DocumentKind's values)."""
    if isinstance(document, Invoice):
        return "invoice"
    return "credit_memo" if document.memo_type == MemoType.CREDIT else "debit_memo"


def customer_document(document: Invoice | Memo) -> CustomerDocument:
    if isinstance(document, Invoice):
        return invoice_document(document)
    return memo_document(document)


def template_context(doc: CustomerDocument) -> dict:
    from billing.documents.pdf import logo_data_url

    settings = BillingSettings.load()
    return {
        "doc": doc,
        "seller": seller(settings),
        "logo": logo_data_url(settings.seller_logo),
        "footer_lines": lines(settings.document_footer),
        "bill_to": bill_to(doc.account),
        "cur": doc.currency,
    }


def render_document_pdf(document: Invoice | Memo) -> tuple[CustomerDocument, bytes]:
    """The document's PDF (and what it shows)."""
    from billing.documents.pdf import render_pdf

    doc = customer_document(document)
    return doc, render_pdf(doc.template_name, template_context(doc))
