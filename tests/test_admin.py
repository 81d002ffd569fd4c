"""The Django admin: every model is registered and opens, money and state stay read-only."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.urls import reverse

from billing import factories as bf
from billing.models import (
    Account,
    AccountingPeriod,
    AccountingPeriodEvent,
    ApprovalRule,
    BilledPeriod,
    BillingSettings,
    BillRun,
    BillRunChunk,
    BillRunError,
    Charge,
    ChargePrice,
    Currency,
    Invoice,
    InvoiceItem,
    NumberSeries,
    Product,
    Subscription,
    SubscriptionCharge,
    TaxCode,
    TaxRate,
    UsageRecord,
)
from billing.numbering import format_number
from memos import factories as mf
from memos.models import (
    CreditInsight,
    Memo,
    MemoApplication,
    MemoApplicationItem,
    MemoEvent,
    MemoItem,
    MemoStatus,
    MemoType,
    ReasonCode,
    ReasonCodeType,
    Refund,
    TransferStatus,
)

APPS = ("billing", "memos")

# For every model: how to make one row, and a search term that finds it (None: no search box).
CASES = {
    Currency: (lambda: bf.currency("EUR"), lambda o: o.code),
    AccountingPeriod: (bf.AccountingPeriodFactory, lambda o: o.name),
    AccountingPeriodEvent: (bf.AccountingPeriodEventFactory, lambda o: o.period_name),
    TaxCode: (bf.TaxCodeFactory, lambda o: o.code),
    TaxRate: (bf.TaxRateFactory, lambda o: o.tax_code.code),
    NumberSeries: (
        lambda: NumberSeries.objects.get(key=NumberSeries.Key.INVOICE),
        lambda o: o.prefix,
    ),
    BillingSettings: (BillingSettings.load, None),
    CreditInsight: (
        lambda: CreditInsight.objects.create(
            kind="memo", month=date(2025, 1, 1), currency_id="USD", batch="Batch7", memo_count=1
        ),
        lambda o: o.batch,
    ),
    ApprovalRule: (
        lambda: ApprovalRule.objects.create(
            memo_type="credit", currency=bf.currency("USD"), threshold=Decimal("1000")
        ),
        lambda o: o.currency_id,
    ),
    Account: (bf.AccountFactory, lambda o: o.number),
    Product: (bf.ProductFactory, lambda o: o.sku),
    Charge: (bf.ChargeFactory, lambda o: o.name),
    ChargePrice: (bf.ChargePriceFactory, lambda o: o.charge.name),
    Subscription: (bf.SubscriptionFactory, lambda o: o.number),
    SubscriptionCharge: (bf.SubscriptionChargeFactory, lambda o: o.subscription.number),
    UsageRecord: (bf.UsageRecordFactory, lambda o: o.subscription_charge.subscription.number),
    Invoice: (bf.InvoiceFactory, lambda o: o.number),
    InvoiceItem: (bf.InvoiceItemFactory, lambda o: o.invoice.number),
    BillRun: (bf.BillRunFactory, lambda o: o.number),
    BillRunError: (bf.BillRunErrorFactory, lambda o: o.bill_run.number),
    BillRunChunk: (bf.BillRunChunkFactory, lambda o: o.bill_run.number),
    BilledPeriod: (bf.BilledPeriodFactory, lambda o: o.bill_run.number),
    ReasonCode: (mf.ReasonCodeFactory, lambda o: o.name),
    Memo: (mf.MemoFactory, lambda o: o.number),
    MemoItem: (mf.MemoItemFactory, lambda o: o.memo.number),
    MemoApplication: (mf.MemoApplicationFactory, lambda o: o.credit_memo.number),
    MemoApplicationItem: (
        mf.MemoApplicationItemFactory,
        lambda o: o.application.credit_memo.number,
    ),
    Refund: (mf.RefundFactory, lambda o: o.number),
    MemoEvent: (mf.MemoEventFactory, lambda o: o.memo.number),
}

# Reference data can be added from the admin; documents (and the seeded singletons) cannot.
ADDABLE = {
    ApprovalRule,
    Currency,
    AccountingPeriod,
    TaxCode,
    TaxRate,
    Product,
    Charge,
    ChargePrice,
    Account,
    Subscription,
    SubscriptionCharge,
    ReasonCode,
}
DELETABLE = ADDABLE - {ReasonCode}

MODELS = sorted(CASES, key=lambda model: model._meta.label)
model_params = pytest.mark.parametrize("model", MODELS, ids=[m._meta.label for m in MODELS])


def app_models() -> set:
    return {model for label in APPS for model in apps.get_app_config(label).get_models()}


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def change_url(obj) -> str:
    return admin_url(type(obj), "change", quote(obj.pk))


class _FormFields(HTMLParser):
    """What a browser would submit from the admin's change form (`<form id="..._form">`)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._in_form = False
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._in_form = (attrs.get("id") or "").endswith("_form")
        if not self._in_form:
            return
        if tag == "option" and self._select and "selected" in attrs:
            self.data[self._select] = attrs.get("value") or ""
            return
        name = attrs.get("name")
        if not name:
            return
        if tag == "input":
            kind = attrs.get("type", "text")
            if kind in {"submit", "button", "file"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in attrs:
                return
            self.data[name] = attrs.get("value") or ("on" if kind == "checkbox" else "")
        elif tag == "textarea":
            self._textarea = name
            self.data[name] = ""
        elif tag == "select":
            self._select = name
            self.data.setdefault(name, "")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def form_data(response) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(response.content.decode())
    assert parser.data, "no change form on the page"
    return parser.data


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_every_model_of_billing_and_memos_is_registered():
    registered = {model for model in admin.site._registry if model._meta.app_label in APPS}
    assert registered == app_models()
    # ...and every one of them is exercised below.
    assert set(CASES) == app_models()


def test_site_header(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert admin.site.site_header == "Memodesk administration"
    assert "Memodesk administration" in response.content.decode()


@pytest.mark.django_db
@model_params
def test_changelist_lists_and_searches(admin_client, model):
    make, search_term = CASES[model]
    obj = make()
    url = admin_url(model, "changelist")
    # With a search, the admin appends ?_changelist_filters=... to the link.
    link = f'href="{change_url(obj)}'

    response = admin_client.get(url)
    assert response.status_code == 200
    assert link in response.content.decode()

    search_fields = admin.site._registry[model].search_fields
    if search_term is None:
        assert not search_fields
        return
    assert search_fields, f"{model.__name__} has no search box"
    response = admin_client.get(url, {"q": search_term(obj)})
    assert response.status_code == 200
    assert link in response.content.decode()
    response = admin_client.get(url, {"q": "no-such-thing-zz9"})
    assert response.status_code == 200
    assert link not in response.content.decode()


@pytest.mark.django_db
@model_params
def test_change_page_opens(admin_client, model):
    obj = CASES[model][0]()
    response = admin_client.get(change_url(obj))
    assert response.status_code == 200
    assert response.context["original"].pk == obj.pk


@pytest.mark.django_db
@model_params
def test_add_page_only_for_reference_data(admin_client, model):
    response = admin_client.get(admin_url(model, "add"))
    assert response.status_code == (200 if model in ADDABLE else 403)


@pytest.mark.django_db
@model_params
def test_delete_only_for_reference_data(admin_client, model):
    obj = CASES[model][0]()
    response = admin_client.get(admin_url(model, "delete", quote(obj.pk)))
    if model is Memo:
        # Only a Canceled memo can be deleted (tests/test_admin_memos.py): this Draft one is
        # refused in words, back on its page.
        assert response.status_code == 302 and response.url == change_url(obj)
        return
    assert response.status_code == (200 if model in DELETABLE else 403)


@pytest.mark.django_db
def test_invoice_money_and_state_are_read_only(admin_client):
    invoice = bf.InvoiceFactory(amount_excl_tax=Decimal("1234.5"), tax_amount=Decimal("0"))
    item = bf.InvoiceItemFactory(invoice=invoice, charge_name="Gold plan")

    page = admin_client.get(change_url(invoice)).content.decode()

    for field in ["amount", "amount_excl_tax", "tax_amount", "balance", "status", "number"]:
        assert f'name="{field}"' not in page
    for field in ["amount", "tax_amount", "balance"]:
        assert f'name="items-0-{field}"' not in page
    assert "1,234.50" in page  # shown with the currency's two decimals, not as stored
    assert "1234.500" not in page
    assert item.charge_name in page


@pytest.mark.django_db
def test_post_to_invoice_cannot_change_its_balance(admin_client):
    invoice = bf.InvoiceFactory()
    balance = invoice.balance
    assert balance == Decimal("110")

    response = admin_client.post(
        change_url(invoice),
        {"balance": "0", "amount": "0", "status": "draft", "_save": "Save"},
    )

    assert response.status_code == 403
    invoice.refresh_from_db()
    assert invoice.balance == balance
    assert invoice.status == "posted"


@pytest.mark.django_db
def test_memo_change_saves_comments_but_never_money_or_state(admin_client):
    memo = mf.MemoFactory(memo_type=MemoType.DEBIT, status=MemoStatus.POSTED)
    mf.MemoItemFactory(memo=memo)
    url = change_url(memo)
    page = admin_client.get(url)
    for field in ["amount", "balance", "status", "transferred_to_accounting", "memo_date"]:
        assert f'name="{field}"' not in page.content.decode()
    # What lifecycle.update_memo_header allows on a posted, unsettled debit memo to a superuser.
    for field in ["comments", "reason_code", "auto_pay"]:
        assert f'name="{field}"' in page.content.decode()

    data = form_data(page)
    data |= {
        "comments": "Checked by finance",
        "amount": "1",
        "balance": "0",
        "status": MemoStatus.CANCELED,
        "transferred_to_accounting": TransferStatus.YES,
        "number": "DM99999999",
        "_save": "Save",
    }
    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context and response.context["errors"]
    memo.refresh_from_db()
    assert memo.comments == "Checked by finance"
    assert (memo.amount, memo.balance) == (Decimal("44"), Decimal("44"))
    assert memo.status == MemoStatus.POSTED
    assert memo.transferred_to_accounting == TransferStatus.NO
    assert memo.number.startswith("DM") and memo.number != "DM99999999"


TAMPERING = {
    NumberSeries: (
        lambda: NumberSeries.objects.get(key=NumberSeries.Key.INVOICE),
        {"last_number": "999", "key": NumberSeries.Key.REFUND},
    ),
    AccountingPeriod: (bf.AccountingPeriodFactory, {"status": "closed"}),
    Account: (bf.AccountFactory, {"status": "inactive", "number": "X1", "currency": "JPY"}),
    Currency: (lambda: bf.currency("JPY"), {"minor_unit": "2"}),
    Subscription: (bf.SubscriptionFactory, {"status": "cancelled", "number": "S-1"}),
    SubscriptionCharge: (bf.SubscriptionChargeFactory, {"charged_through_date": "2026-12-01"}),
    BillRun: (
        bf.BillRunFactory,
        {"status": "posted", "accounts_in_scope": "9", "invoices_generated": "9"},
    ),
    Refund: (mf.RefundFactory, {"amount": "1", "refund_date": "2026-01-01", "number": "R-1"}),
}


@pytest.mark.django_db
@pytest.mark.parametrize("model", list(TAMPERING), ids=[model._meta.label for model in TAMPERING])
def test_state_posted_to_a_change_page_is_ignored(admin_client, model):
    make, tampered = TAMPERING[model]
    obj = make()
    before = {field: getattr(obj, model._meta.get_field(field).attname) for field in tampered}
    url = change_url(obj)
    page = admin_client.get(url)
    for field in tampered:
        assert f'name="{field}"' not in page.content.decode()

    response = admin_client.post(url, form_data(page) | tampered | {"_save": "Save"})

    assert response.status_code == 302, response.context and response.context["errors"]
    obj.refresh_from_db()
    assert {field: getattr(obj, model._meta.get_field(field).attname) for field in tampered} == (
        before
    )


@pytest.mark.django_db
def test_money_columns_use_the_currency_minor_unit(admin_client):
    yen = bf.AccountFactory(currency=bf.currency("JPY"))
    memo = mf.MemoFactory(account=yen, amount_excl_tax=Decimal("1200"), tax_amount=Decimal("120"))
    page = admin_client.get(admin_url(Memo, "changelist"), {"q": memo.number})
    content = page.content.decode()
    assert ">1,320<" in content
    assert "1320.000" not in content


@pytest.mark.django_db
def test_adding_an_account_takes_the_next_account_number(admin_client):
    series = NumberSeries.objects.get(key=NumberSeries.Key.ACCOUNT)
    expected = format_number(series.prefix, series.last_number + 1)

    response = admin_client.post(
        admin_url(Account, "add"),
        {
            "name": "Admin Added Ltd",
            "currency": "EUR",
            "bill_cycle_day": "5",
            "batch": "Batch2",
            "number": "HACKED",
            "status": "inactive",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    account = Account.objects.get(name="Admin Added Ltd")
    assert account.number == expected
    assert account.status == "active"
    series.refresh_from_db()
    assert format_number(series.prefix, series.last_number) == expected


@pytest.mark.django_db
def test_reason_codes_stop_at_the_limit(admin_client):
    url = admin_url(ReasonCode, "add")
    assert admin_client.get(url).status_code == 200
    missing = BillingSettings.max_reason_codes - ReasonCode.objects.count()
    ReasonCode.objects.bulk_create(
        ReasonCode(code_type=ReasonCodeType.CREDIT_MEMO, name=f"Bulk {n}") for n in range(missing)
    )
    assert admin_client.get(url).status_code == 403


@pytest.mark.django_db
def test_changing_an_account_goes_through_the_service(admin_client, monkeypatch):
    from billing import services

    calls = []
    real = services.update_account
    monkeypatch.setattr(
        services, "update_account", lambda **kw: calls.append(kw["account"].pk) or real(**kw)
    )
    account = bf.AccountFactory(name="Before Ltd", currency=bf.currency("USD"))
    response = admin_client.post(
        admin_url(Account, "change", account.pk),
        {"name": "  After Ltd  ", "bill_cycle_day": "9", "batch": "Batch3", "_save": "Save"},
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.bill_cycle_day, account.batch) == ("After Ltd", 9, "Batch3")
    assert account.currency_id == "USD"
    assert calls == [account.pk]
