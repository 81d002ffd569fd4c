"""Settling a credit memo from its pages (DOMAIN.md 3 and 5): the apply page with its live
remaining amount, unapply from the applications table, the refund page, reverse and write off,
and who may use each endpoint. The service rules themselves are tested in test_settlement.py;
here: what the pages list, prefill and say, that a refused request re-renders what was typed with
the error beside its field and changes nothing, and the permission matrix.
"""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.factories import InvoiceFactory, currency
from memos.factories import MemoFactory
from memos.models import (
    Memo,
    MemoApplication,
    MemoStatus,
    MemoType,
    ReasonCode,
    ReasonCodeType,
    Refund,
)
from memos.services.settlement import reverse_credit_memo, unapply_credit_memo
from tests.memos.creation_helpers import D, account
from tests.memos.test_settlement import (
    ON,
    apply,
    assert_invariants,
    balances,
    close_period,
    credit_on,
    debit_on,
    fresh,
    invoice_on,
    refund,
    snapshot,
    to_debit,
    to_invoice,
)

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def url(name: str, memo: Memo, *args) -> str:
    return reverse(f"memos:{name}", args=[memo.number, *args])


def key(doc) -> str:
    """The apply page's row key of an invoice or debit memo."""
    return f"debit-{doc.pk}" if isinstance(doc, Memo) else f"invoice-{doc.pk}"


def row_errors(html: str, doc) -> str:
    """The error block under a document's row on the apply page."""
    match = re.search(rf'<div id="{key(doc)}-errors"[^>]*>(.*?)</div>\s*<details', html, re.S)
    assert match, f"no error block for {doc.number}"
    return match.group(1)


def page_errors(html: str) -> str:
    match = re.search(r'data-testid="page-errors">(.*?)</div>\s*<div class="mb-3', html, re.S)
    return match.group(1) if match else ""


def total_errors(html: str) -> str:
    """The errors beside the total (inside the live region of the running totals)."""
    match = re.search(r'data-testid="total-errors"[^>]*>(.*?)</div>\s*(?:</div>|$)', html, re.S)
    assert match, "no error block beside the total"
    return match.group(1)


def field_block(html: str, name: str) -> str:
    """A form field's block on the refund page: from its label to the next field's label."""
    start = html.index(f'for="id_{name}"')
    end = html.find("<label", start + 1)
    return html[start : end if end != -1 else len(html)]


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def ends_on(response, memo: Memo) -> None:
    """A followed POST that redirected to the memo page."""
    assert response.redirect_chain, "expected a redirect"
    assert response.redirect_chain[-1] == (memo.get_absolute_url(), 302)


@pytest.fixture
def acct():
    return account("USD")


@pytest.fixture
def credit(acct):
    """A posted USD credit memo of 100.00 (items 60 + 40), memo date MEMO_DATE."""
    return credit_on(acct, "60", "40")


@pytest.fixture
def docs(acct):
    """Open targets of the account: two posted invoices and a posted debit memo."""
    return SimpleNamespace(
        inv1=invoice_on(acct, "30", "20"),  # 50.00
        inv2=invoice_on(acct, "25", "15"),  # 40.00
        dm=debit_on(acct, "15", "5"),  # 20.00
    )


@pytest.fixture
def op(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def admin(client, billing_admin):
    client.force_login(billing_admin)
    return client


# --- the apply page: what it lists --------------------------------------------------------------


def test_apply_page_lists_the_open_posted_documents_of_the_account_in_its_currency(
    op, acct, credit, docs
):
    other_account = account("USD")
    excluded = [
        invoice_on(acct, "10", post=False),  # draft invoice
        invoice_on(other_account, "10"),  # another account
        InvoiceFactory(account=acct, currency=currency("EUR")),  # another currency
        InvoiceFactory(account=acct, balance=D("0")),  # nothing left to pay
        debit_on(acct, "10", post=False),  # draft debit memo
        debit_on(other_account, "10"),
        MemoFactory(
            account=acct, memo_type=MemoType.DEBIT, status=MemoStatus.POSTED, balance=D("0")
        ),
        credit_on(acct, "10"),  # a credit memo is never a target
    ]
    response = op.get(url("memo_apply", credit))
    html = response.content.decode()
    assert response.status_code == 200
    for doc in (docs.inv1, docs.inv2, docs.dm):
        assert f'name="{key(doc)}-amount"' in html, doc.number
        assert f">{doc.number}</a>" in html
    # The per-item inputs of each listed document.
    for item in docs.inv1.items.all():
        assert f'name="{key(docs.inv1)}-item-{item.pk}"' in html
    for doc in excluded:
        assert doc.number not in html, doc.number
    # Effective date: today (after the memo date); nothing typed yet.
    assert f'name="effective_date" id="id_effective_date" value="{TODAY():%Y-%m-%d}"' in html
    assert 'data-testid="apply-remaining" class="">USD 100.00' in html
    assert html.count('-amount" value=""') == 3


def test_apply_page_without_targets_offers_the_refund(op, credit):
    html = op.get(url("memo_apply", credit)).content.decode()
    assert "has no posted invoice or debit memo with a balance in USD" in html
    assert url("memo_refund", credit) in html


def test_apply_page_defaults_to_the_memo_date_when_it_is_later_than_today(op, acct):
    later = TODAY() + dt.timedelta(days=5)
    memo = credit_on(acct, "10", memo_date=later)
    html = op.get(url("memo_apply", memo)).content.decode()
    assert f'id="id_effective_date" value="{later:%Y-%m-%d}"' in html


def test_a_draft_or_settled_credit_memo_has_nothing_to_apply_or_refund(op, acct, docs):
    draft = credit_on(acct, "10", post=False)
    applied = credit_on(acct, "20")
    apply(applied, to_invoice(docs.inv1, "20"))
    refunded = credit_on(acct, "20")
    refund(refunded, "20")
    for memo in (draft, applied, refunded):
        for name, says in (
            ("memo_apply", "nothing to apply"),
            ("memo_refund", "nothing to refund"),
        ):
            response = op.get(url(name, memo), follow=True)
            ends_on(response, memo)
            assert any(says in m for m in messages_of(response)), (memo.number, name)


def test_apply_page_is_for_credit_memos_only(op, docs):
    assert op.get(url("memo_apply", docs.dm)).status_code == 404
    assert op.get(url("memo_refund", docs.dm)).status_code == 404


# --- applying ------------------------------------------------------------------------------------


def test_apply_header_amounts_to_two_targets_and_item_amounts_to_a_third(op, credit, docs):
    inv2_items = list(docs.inv2.items.order_by("sort_order", "id"))
    response = op.post(
        url("memo_apply", credit),
        {
            "effective_date": "2025-03-25",
            f"{key(docs.inv1)}-amount": "30",
            f"{key(docs.dm)}-amount": "20.00",
            # Per item: only the second item of inv2; the header amount is ignored.
            f"{key(docs.inv2)}-amount": "",
            f"{key(docs.inv2)}-item-{inv2_items[1].pk}": "10",
            f"{key(docs.inv2)}-item-{inv2_items[0].pk}": "",
        },
        follow=True,
    )
    ends_on(response, credit)
    [message] = messages_of(response)
    assert message.startswith(f"Applied USD 60.00 of {credit.number} to ")
    for doc in (docs.inv1, docs.inv2, docs.dm):
        assert doc.number in message
    credit = fresh(credit)
    assert credit.applied_amount == D("60") and credit.unapplied_amount == D("40")
    assert fresh(docs.inv1).balance == D("20")
    assert fresh(docs.dm).balance == D("0")
    assert fresh(docs.inv2).balance == D("30")
    assert balances(docs.inv2) == [D("25"), D("5")]
    applications = MemoApplication.objects.filter(credit_memo=credit)
    assert {a.effective_date for a in applications} == {dt.date(2025, 3, 25)}
    assert {a.created_by.username for a in applications} == {"operator"}
    assert_invariants(credit)


def test_apply_by_htmx_answers_with_a_client_redirect(op, credit, docs):
    response = op.post(
        url("memo_apply", credit),
        {"effective_date": "2025-03-25", f"{key(docs.inv1)}-amount": "5"},
        headers={"HX-Request": "true"},
    )
    assert response["HX-Redirect"] == credit.get_absolute_url()
    assert fresh(credit).applied_amount == D("5")


def invalid_apply_cases(docs):
    """(what is typed, where the error is: a document, "page" or "date", what it says)."""
    inv2_item = docs.inv2.items.order_by("sort_order", "id").first()
    return {
        "not a number": ({key(docs.inv1) + "-amount": "12,5x"}, docs.inv1, "Enter a number."),
        "too many decimals": (
            {key(docs.inv1) + "-amount": "10.555"},
            docs.inv1,
            "too many decimals: USD amounts allow at most 2 decimal places",
        ),
        "item too many decimals": (
            {f"{key(docs.inv2)}-item-{inv2_item.pk}": "1.001"},
            docs.inv2,
            "too many decimals",
        ),
        "more than the balance": (
            {key(docs.inv1) + "-amount": "50.01"},
            docs.inv1,
            f"At most USD 50.00 can be applied to {docs.inv1.number}",
        ),
        "more than the item balance": (
            {f"{key(docs.inv2)}-item-{inv2_item.pk}": "25.01"},
            docs.inv2,
            "at most 25.00 can be applied",
        ),
        "negative": ({key(docs.dm) + "-amount": "-5"}, docs.dm, "greater than zero"),
        "zero": ({key(docs.dm) + "-amount": "0"}, docs.dm, "greater than zero"),
        "not finite": ({key(docs.dm) + "-amount": "NaN"}, docs.dm, "is not a number"),
        "infinite": ({key(docs.dm) + "-amount": "Infinity"}, docs.dm, "is not a number"),
        "too large": (
            {key(docs.dm) + "-amount": "10000000000000"},
            docs.dm,
            "too large: at most 9,999,999,999,999.99",
        ),
        "more than unapplied": (
            {
                key(docs.inv1) + "-amount": "50",
                key(docs.inv2) + "-amount": "40",
                key(docs.dm) + "-amount": "20",
            },
            "total",
            "USD 110.00 is more than the unapplied amount USD 100.00",
        ),
        "before the memo date": (
            {key(docs.inv1) + "-amount": "10", "effective_date": "2025-03-19"},
            "date",
            "cannot be before the memo date 2025-03-20",
        ),
        "not a date": (
            {key(docs.inv1) + "-amount": "10", "effective_date": "2025-02-30"},
            "date",
            "Enter a valid date",
        ),
        "no date": (
            {key(docs.inv1) + "-amount": "10", "effective_date": ""},
            "date",
            "Enter the effective date",
        ),
        "nothing entered": ({}, "page", "Enter an amount for at least one"),
    }


CASES = [
    "not a number",
    "too many decimals",
    "item too many decimals",
    "more than the balance",
    "more than the item balance",
    "negative",
    "zero",
    "not finite",
    "infinite",
    "too large",
    "more than unapplied",
    "before the memo date",
    "not a date",
    "no date",
    "nothing entered",
]


@pytest.mark.parametrize("case", CASES)
def test_invalid_apply_re_renders_with_the_error_beside_its_row_and_changes_nothing(
    op, credit, docs, case
):
    typed, where, says = invalid_apply_cases(docs)[case]
    data = {"effective_date": "2025-03-25", **typed}
    before = snapshot()
    response = op.post(url("memo_apply", credit), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html  # the whole page, not a fragment
    if where == "page":
        assert says in page_errors(html)
    elif where == "total":
        assert says in total_errors(html)
        assert not page_errors(html)
    elif where == "date":
        match = re.search(r'id="effective-help">.*?</div>(.*?)</div>', html, re.S)
        assert says in match.group(1)
        assert (
            'name="effective_date" id="id_effective_date" value="{}"'.format(data["effective_date"])
            in html
        )
    else:
        assert says in row_errors(html, where)
        assert "is-invalid" in html
    # What was typed is still there.
    for name, value in typed.items():
        if name != "effective_date":
            assert f'name="{name}" value="{value}"' in html, name
    assert not messages_of(response)
    assert snapshot() == before
    assert_invariants()


def test_errors_of_several_rows_are_each_shown_beside_their_row(op, credit, docs):
    response = op.post(
        url("memo_apply", credit),
        {
            "effective_date": "2025-03-25",
            key(docs.inv1) + "-amount": "60",
            key(docs.dm) + "-amount": "2.345",
            key(docs.inv2) + "-amount": "5",
        },
    )
    html = response.content.decode()
    assert "At most USD 50.00" in row_errors(html, docs.inv1)
    assert "too many decimals" in row_errors(html, docs.dm)
    assert row_errors(html, docs.inv2).strip() == ""
    assert fresh(credit).applied_amount == 0


def test_the_memo_moving_on_between_page_and_post_is_caught(op, credit, docs):
    """Another operator refunds most of the credit while this one types."""
    refund(credit, "95")
    response = op.post(
        url("memo_apply", credit),
        {"effective_date": "2025-03-25", key(docs.inv1) + "-amount": "10"},
    )
    assert response.status_code == 200
    assert "more than the unapplied amount USD 5.00" in total_errors(response.content.decode())
    assert fresh(credit).applied_amount == 0


def preview(client, memo, data):
    return client.post(
        url("memo_apply", memo),
        {"effective_date": "2025-03-25", **data, "preview": "1"},
        headers={"HX-Request": "true"},
    )


def test_preview_returns_the_remaining_amount_only_and_writes_nothing(op, credit, docs):
    before = snapshot()
    response = preview(
        op, credit, {key(docs.inv1) + "-amount": "30", key(docs.dm) + "-amount": "5"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<form" not in html
    # The content of the live region, which stays in the page (a region replaced whole is
    # not announced), with each row's errors out of band.
    assert html.strip().startswith('<div class="d-flex')
    assert '<div id="apply-remaining"' not in html
    assert 'data-testid="apply-total">USD 35.00' in html
    assert 'data-testid="apply-remaining" class="">USD 65.00' in html
    assert "more than the unapplied amount" not in html
    assert "HX-Request" in response["Vary"]
    assert snapshot() == before


def test_preview_counts_item_amounts_instead_of_the_header(op, credit, docs):
    item = docs.inv2.items.order_by("sort_order", "id").first()
    html = preview(
        op,
        credit,
        {key(docs.inv2) + "-amount": "40", f"{key(docs.inv2)}-item-{item.pk}": "12.5"},
    ).content.decode()
    assert 'data-testid="apply-total">USD 12.50' in html


def test_preview_says_when_the_total_is_more_than_the_unapplied_amount(op, credit, docs):
    before = snapshot()
    html = preview(
        op,
        credit,
        {
            key(docs.inv1) + "-amount": "50",
            key(docs.inv2) + "-amount": "40",
            key(docs.dm) + "-amount": "20",
        },
    ).content.decode()
    assert "USD 110.00 is more than the unapplied amount USD 100.00" in total_errors(html)
    # "Unapplied after" never goes below zero: the excess is the error's.
    assert 'class="text-danger">USD 0.00' in html
    assert "-10.00" not in html
    assert snapshot() == before


@pytest.mark.parametrize(
    "typed", ["abc", "NaN", "Infinity", "1e40", "10.555", "-5"], ids=lambda v: f"typed {v}"
)
def test_preview_of_half_typed_input_never_fails(op, credit, docs, typed):
    before = snapshot()
    response = preview(
        op, credit, {key(docs.inv1) + "-amount": typed, key(docs.dm) + "-amount": "5"}
    )
    assert response.status_code == 200
    assert 'id="apply-remaining"' in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("date", ["", "2025-02-30", "garbage"])
def test_preview_with_a_half_typed_date_never_fails(op, credit, docs, date):
    response = op.post(
        url("memo_apply", credit),
        {"effective_date": date, key(docs.inv1) + "-amount": "5", "preview": "1"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert 'data-testid="apply-total">USD 5.00' in response.content.decode()


def test_a_double_post_never_applies_beyond_the_target_balance(op, credit, docs):
    data = {"effective_date": "2025-03-25", key(docs.inv1) + "-amount": "30"}
    first = op.post(url("memo_apply", credit), data)
    second = op.post(url("memo_apply", credit), data)
    assert first.status_code == 302
    assert second.status_code == 200
    assert "At most USD 20.00" in row_errors(second.content.decode(), docs.inv1)
    assert fresh(credit).applied_amount == D("30")
    assert fresh(docs.inv1).balance == D("20")
    assert_invariants(credit)


def test_a_double_post_never_applies_beyond_the_unapplied_amount(op, acct, credit):
    big = invoice_on(acct, "500")
    data = {"effective_date": "2025-03-25", key(big) + "-amount": "60"}
    assert op.post(url("memo_apply", credit), data).status_code == 302
    second = op.post(url("memo_apply", credit), data)
    assert second.status_code == 200
    assert "more than the unapplied amount USD 40.00" in total_errors(second.content.decode())
    credit = fresh(credit)
    assert credit.applied_amount == D("60") <= credit.amount
    assert_invariants(credit)


def test_a_double_post_with_enough_credit_applies_twice_within_the_invariants(op, acct, credit):
    big = invoice_on(acct, "500")
    data = {"effective_date": "2025-03-25", key(big) + "-amount": "30"}
    for _ in range(2):
        op.post(url("memo_apply", credit), data)
    credit = fresh(credit)
    assert credit.applied_amount == D("60") <= credit.amount
    assert fresh(big).balance == D("440")
    assert_invariants(credit)


def test_apply_in_jpy_takes_no_decimals(op):
    yen = account("JPY")
    memo = credit_on(yen, "1000")
    invoice = invoice_on(yen, "700")
    response = op.post(
        url("memo_apply", memo), {"effective_date": "2025-03-25", key(invoice) + "-amount": "1.5"}
    )
    assert "JPY amounts allow no decimals" in row_errors(response.content.decode(), invoice)
    response = op.post(
        url("memo_apply", memo),
        {"effective_date": "2025-03-25", key(invoice) + "-amount": "700"},
        follow=True,
    )
    assert messages_of(response)[0].startswith("Applied JPY 700 of")
    assert fresh(memo).unapplied_amount == D("300")


# --- unapplying ----------------------------------------------------------------------------------


@pytest.fixture
def applied(credit, docs):
    """credit applied 50.00 to inv1 on ON (2025-03-25)."""
    [application] = apply(credit, to_invoice(docs.inv1, "50"))
    return application


def unapply(client, application, **data):
    data.setdefault("effective_date", "2025-03-26")
    data.setdefault("amount", "")
    return client.post(
        url("memo_unapply", application.credit_memo, application.pk), data, follow=True
    )


def test_unapply_a_whole_application(op, credit, docs, applied):
    response = unapply(op, applied)
    ends_on(response, credit)
    assert messages_of(response) == [f"Unapplied USD 50.00 from {docs.inv1.number}."]
    assert fresh(credit).applied_amount == 0
    assert fresh(docs.inv1).balance == D("50")
    undo = MemoApplication.objects.get(undoes=applied)
    assert undo.kind == MemoApplication.Kind.UNAPPLY and undo.effective_date == dt.date(2025, 3, 26)
    assert undo.created_by.username == "operator"
    assert_invariants(credit)


def test_unapply_part_then_the_rest(op, credit, docs, applied):
    response = unapply(op, applied, amount="20")
    assert messages_of(response) == [f"Unapplied USD 20.00 from {docs.inv1.number}."]
    assert fresh(credit).applied_amount == D("30")
    assert fresh(docs.inv1).balance == D("20")
    response = unapply(op, applied)  # empty amount: all that is left
    assert messages_of(response) == [f"Unapplied USD 30.00 from {docs.inv1.number}."]
    assert fresh(credit).applied_amount == 0
    assert_invariants(credit)


def test_unapply_from_a_debit_memo(op, credit, docs):
    [application] = apply(credit, to_debit(docs.dm, "15"))
    response = unapply(op, application, amount="5")
    assert messages_of(response) == [f"Unapplied USD 5.00 from {docs.dm.number}."]
    assert fresh(docs.dm).balance == D("10")
    assert_invariants(credit, docs.dm)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"amount": "abc"}, "Enter a number."),
        ({"amount": "50.01"}, "Enter an amount from 0.01 to 50.00."),
        ({"amount": "0"}, "Enter an amount from 0.01 to 50.00."),
        ({"amount": "-1"}, "Enter an amount from 0.01 to 50.00."),
        ({"amount": "1.001"}, "too many decimals"),
        ({"amount": "NaN"}, "“NaN” is not a number."),
        ({"effective_date": "2025-03-24"}, "cannot be before 2025-03-25"),
        ({"effective_date": "garbage"}, "Enter a valid date."),
        ({"effective_date": ""}, "This field is required."),
    ],
    ids=[
        "not a number",
        "more than applied",
        "zero",
        "negative",
        "too many decimals",
        "nan",
        "before the application",
        "not a date",
        "no date",
    ],
)
def test_invalid_unapply_says_why_and_changes_nothing(op, credit, applied, data, says):
    before = snapshot()
    response = unapply(op, applied, **data)
    ends_on(response, credit)
    [message] = messages_of(response)
    assert says in message
    assert snapshot() == before


def test_unapply_cannot_go_before_an_earlier_unapplication(op, credit, applied):
    unapply_credit_memo(
        application=applied, amount=D("10"), effective_date=dt.date(2025, 4, 1), actor=None
    )
    before = snapshot()
    [message] = messages_of(unapply(op, applied, effective_date="2025-03-30"))
    assert "cannot be before 2025-04-01" in message
    assert snapshot() == before


def test_unapply_of_an_unapplication_or_of_another_memo_is_refused(op, acct, credit, applied):
    undo = unapply_credit_memo(application=applied, amount=D("10"), effective_date=ON, actor=None)
    other = credit_on(acct, "5")
    before = snapshot()
    [message] = messages_of(unapply(op, undo))
    assert "Only an application can be unapplied." in message
    assert (
        op.post(
            url("memo_unapply", other, applied.pk), {"effective_date": "2025-03-26"}
        ).status_code
        == 404
    )
    assert snapshot() == before


def test_the_application_of_a_reversal_cannot_be_unapplied(op, acct):
    memo = credit_on(acct, "30")
    debit = reverse_credit_memo(credit_memo=memo, actor=None)
    application = MemoApplication.objects.get(credit_memo=memo, debit_memo=debit)
    before = snapshot()
    response = unapply(op, application, effective_date=f"{TODAY():%Y-%m-%d}")
    ends_on(response, memo)
    [message] = messages_of(response)
    assert f"part of the reversal (or write-off) of {memo.number} by {debit.number}" in message
    assert snapshot() == before


def test_unapply_by_htmx_answers_with_a_client_redirect(op, credit, applied):
    response = op.post(
        url("memo_unapply", credit, applied.pk),
        {"effective_date": "2025-03-26"},
        headers={"HX-Request": "true"},
    )
    assert response["HX-Redirect"] == credit.get_absolute_url()
    assert fresh(credit).applied_amount == 0


# --- refunding -----------------------------------------------------------------------------------


def default_refund_code() -> ReasonCode:
    return ReasonCode.objects.get(code_type=ReasonCodeType.REFUND, is_default=True)


def test_refund_page_prefills_the_unapplied_amount_today_and_the_default_reason(op, credit, docs):
    apply(credit, to_invoice(docs.inv1, "30.5"))
    html = op.get(url("memo_refund", credit)).content.decode()
    assert 'name="amount" id="id_amount" value="69.50"' in html
    assert f'name="refund_date" id="id_refund_date" value="{TODAY():%Y-%m-%d}"' in html
    code = default_refund_code()
    assert code.name == "Standard Refund"
    assert f'<option value="{code.pk}" selected>Standard Refund</option>' in html
    # Only refund reason codes are offered.
    assert "Correcting Invoice Error" not in field_block(html, "reason_code")


@pytest.mark.parametrize(
    ("code", "amount", "shown"), [("JPY", "1000", "1000"), ("KWD", "12.345", "12.345")]
)
def test_refund_page_prefills_the_amount_in_the_currency_decimals(op, code, amount, shown):
    memo = credit_on(account(code), amount)
    html = op.get(url("memo_refund", memo)).content.decode()
    assert f'name="amount" id="id_amount" value="{shown}"' in html


def test_refund_page_prefills_the_memo_date_when_it_is_later_than_today(op, acct):
    later = TODAY() + dt.timedelta(days=3)
    memo = credit_on(acct, "10", memo_date=later)
    html = op.get(url("memo_refund", memo)).content.decode()
    assert f'id="id_refund_date" value="{later:%Y-%m-%d}"' in html


def refund_data(**data):
    return {
        "amount": "25.50",
        "method": "check",
        "refund_date": "2025-03-25",
        "reason_code": str(default_refund_code().pk),
        "comment": "Customer asked",
        **data,
    }


def test_refund(op, credit):
    response = op.post(url("memo_refund", credit), refund_data(), follow=True)
    ends_on(response, credit)
    refund_row = Refund.objects.get(credit_memo=credit)
    assert refund_row.number.startswith("RF")
    assert refund_row.amount == D("25.50") and refund_row.method == "check"
    assert refund_row.refund_date == dt.date(2025, 3, 25)
    assert refund_row.reason_code == default_refund_code()
    assert refund_row.comment == "Customer asked"
    assert refund_row.created_by.username == "operator"
    assert messages_of(response) == [
        f"Refunded USD 25.50 of {credit.number} by Check ({refund_row.number})."
    ]
    credit = fresh(credit)
    assert credit.refund_amount == D("25.50") and credit.unapplied_amount == D("74.50")
    # The memo page lists it.
    assert refund_row.number in response.content.decode()
    assert_invariants(credit)


def test_refund_of_everything_left(op, credit, docs):
    apply(credit, to_invoice(docs.inv1, "50"))
    op.post(url("memo_refund", credit), refund_data(amount="50", method="wire_transfer"))
    credit = fresh(credit)
    assert credit.unapplied_amount == 0 and credit.refund_amount == D("50")
    assert_invariants(credit)


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        (
            {"amount": "100.01"},
            "amount",
            "At most USD 100.00 (the unapplied amount) can be refunded.",
        ),
        ({"amount": "10.555"}, "amount", "too many decimals"),
        ({"amount": "0"}, "amount", "greater than zero"),
        ({"amount": "abc"}, "amount", "Enter a number."),
        ({"method": "bitcoin"}, "method", "Select a valid choice."),
        ({"refund_date": "2025-03-19"}, "refund_date", "cannot be before the memo date 2025-03-20"),
        ({"refund_date": "2025-04-10"}, "refund_date", "closed"),
        ({"refund_date": "garbage"}, "refund_date", "Enter a valid date."),
        ({"reason_code": "999999"}, "reason_code", "Select a valid choice."),
    ],
    ids=[
        "over unapplied",
        "too many decimals",
        "zero",
        "not a number",
        "bad method",
        "before memo date",
        "closed period",
        "not a date",
        "bad reason",
    ],
)
def test_invalid_refund_re_renders_with_the_error_beside_the_field(op, credit, data, field, says):
    close_period(dt.date(2025, 4, 1), dt.date(2025, 4, 30))
    before = snapshot()
    typed = refund_data(**data)
    response = op.post(url("memo_refund", credit), typed)
    html = response.content.decode()
    assert response.status_code == 200
    block = field_block(html, field)
    assert says in block, block
    assert "is-invalid" in block
    for other in ("amount", "refund_date"):
        if other != field:
            assert "invalid-feedback" not in field_block(html, other)
    # What was typed is still there.
    assert f'name="amount" id="id_amount" value="{typed["amount"]}"' in html
    assert f'value="{typed["refund_date"]}"' in html
    assert "Customer asked</textarea>" in html
    assert not messages_of(response)
    assert snapshot() == before


def test_refund_of_a_memo_settled_meanwhile_is_refused_on_the_page(op, credit, docs):
    refund(credit, "100")
    before = snapshot()
    response = op.post(url("memo_refund", credit), refund_data(amount="1"))
    assert response.status_code == 200
    assert "At most USD 0.00" in field_block(response.content.decode(), "amount")
    assert snapshot() == before


# --- reverse and write off -----------------------------------------------------------------------


def test_admin_reverses_an_untouched_credit_memo(admin, acct, credit):
    response = admin.post(url("memo_reverse", credit), follow=True)
    ends_on(response, credit)
    debit = Memo.objects.get(reversed_memo=credit)
    assert messages_of(response) == [
        f"{credit.number} was reversed: debit memo {debit.number} of USD 100.00 was posted and "
        "the credit applied to it."
    ]
    assert debit.memo_type == MemoType.DEBIT and debit.status == MemoStatus.POSTED
    assert debit.amount == D("100") and debit.balance == 0
    assert debit.reason_code.name == "Credit memo reversal"
    assert debit.created_by.username == "billingadmin"
    credit = fresh(credit)
    assert credit.status == MemoStatus.POSTED and credit.reversed
    assert credit.unapplied_amount == 0 and credit.applied_amount == D("100")
    assert_invariants(credit, debit)


def test_admin_writes_off_an_untouched_credit_memo(admin, credit):
    response = admin.post(url("memo_write_off", credit), follow=True)
    ends_on(response, credit)
    debit = Memo.objects.get(reversed_memo=credit)
    assert messages_of(response)[0].startswith(
        f"{credit.number} was written off: debit memo {debit.number}"
    )
    assert debit.reason_code.name == "Write-off" and debit.status == MemoStatus.POSTED
    credit = fresh(credit)
    assert credit.unapplied_amount == 0 and credit.status == MemoStatus.POSTED
    assert_invariants(credit, debit)


@pytest.mark.parametrize("name", ["memo_reverse", "memo_write_off"])
@pytest.mark.parametrize("settled_by", ["apply", "refund"])
def test_reverse_and_write_off_are_refused_once_applied_or_refunded(
    admin, credit, docs, name, settled_by
):
    if settled_by == "apply":
        apply(credit, to_invoice(docs.inv1, "10"))
    else:
        refund(credit, "10")
    before = snapshot()
    response = admin.post(url(name, credit), follow=True)
    ends_on(response, credit)
    [message] = messages_of(response)
    assert "has been applied or refunded" in message
    assert snapshot() == before


def test_a_reversed_memo_cannot_be_written_off(admin, credit):
    admin.post(url("memo_reverse", credit), follow=True)
    before = snapshot()
    [message] = messages_of(admin.post(url("memo_write_off", credit), follow=True))
    assert "already been reversed or written off" in message
    assert snapshot() == before


def test_reverse_by_htmx_answers_with_a_client_redirect(admin, credit):
    response = admin.post(url("memo_reverse", credit), headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == credit.get_absolute_url()
    assert fresh(credit).reversed


# --- who may do what -----------------------------------------------------------------------------


@pytest.fixture
def world(acct, credit, docs, applied):
    """credit (100, 50 applied to inv1), an untouched credit memo for reverse / write off."""
    return SimpleNamespace(
        credit=credit, docs=docs, application=applied, untouched=credit_on(acct, "35")
    )


def endpoint(name: str, w) -> tuple[str, str, dict | None, dict]:
    """(method, url, data, headers) of each settlement endpoint, with data that succeeds."""
    apply_data = {"effective_date": "2025-03-25", key(w.docs.inv2) + "-amount": "5"}
    return {
        "apply page": ("get", url("memo_apply", w.credit), None, {}),
        "apply": ("post", url("memo_apply", w.credit), apply_data, {}),
        "apply preview": (
            "post",
            url("memo_apply", w.credit),
            {**apply_data, "preview": "1"},
            {"HX-Request": "true"},
        ),
        "unapply": (
            "post",
            url("memo_unapply", w.credit, w.application.pk),
            {"amount": "5", "effective_date": "2025-03-26"},
            {},
        ),
        "refund page": ("get", url("memo_refund", w.credit), None, {}),
        "refund": ("post", url("memo_refund", w.credit), refund_data(amount="5"), {}),
        "reverse": ("post", url("memo_reverse", w.untouched), {}, {}),
        "write off": ("post", url("memo_write_off", w.untouched), {}, {}),
    }[name]


ENDPOINTS = [
    "apply page",
    "apply",
    "apply preview",
    "unapply",
    "refund page",
    "refund",
    "reverse",
    "write off",
]
WRITES = {"apply", "unapply", "refund", "reverse", "write off"}
ADMIN_ONLY = {"reverse", "write off"}


def call(client, name, w, *, htmx: bool | None = None):
    """Call an endpoint as its page does, or (htmx=True/False) with or without HX-Request."""
    method, target, data, headers = endpoint(name, w)
    if htmx is not None:
        headers = {"HX-Request": "true"} if htmx else {}
    return getattr(client, method)(target, data, headers=headers)


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("role", ["operator", "billing_admin"])
def test_operator_and_admin_may_settle_and_only_admin_reverses(client, request, world, role, name):
    client.force_login(request.getfixturevalue(role))
    before = snapshot()
    response = call(client, name, world)
    if role == "operator" and name in ADMIN_ONLY:
        assert response.status_code == 403
        assert snapshot() == before
        return
    if name in WRITES:
        assert response.status_code == 302, response.content.decode()[:2000]
        assert snapshot() != before
        assert_invariants()
    else:
        assert response.status_code == 200
        assert snapshot() == before


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("role", ["reviewer", "viewer", "no_role_user"])
def test_reviewer_viewer_and_no_role_get_403_and_change_nothing(client, request, world, role, name):
    client.force_login(request.getfixturevalue(role))
    before = snapshot()
    assert call(client, name, world).status_code == 403
    assert call(client, name, world, htmx=True).status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize("name", ENDPOINTS)
def test_anonymous_is_sent_to_the_login_page(client, world, name):
    before = snapshot()
    response = call(client, name, world, htmx=False)
    assert response.status_code == 302
    login = reverse("login")
    assert response.url.startswith(f"{login}?next=")
    response = call(client, name, world, htmx=True)
    assert response["HX-Redirect"].startswith(f"{login}?next=")
    assert "<form" not in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("name", ["memo_unapply", "memo_reverse", "memo_write_off"])
def test_post_only_endpoints_refuse_get(admin, world, name):
    args = [world.application.pk] if name == "memo_unapply" else []
    memo = world.credit if name == "memo_unapply" else world.untouched
    before = snapshot()
    assert admin.get(url(name, memo, *args)).status_code == 405
    assert snapshot() == before


def settlement_links(html: str, w) -> dict[str, bool]:
    return {
        "apply": url("memo_apply", w.untouched) in html,
        "refund": url("memo_refund", w.untouched) in html,
        "reverse": url("memo_reverse", w.untouched) in html,
        "write off": url("memo_write_off", w.untouched) in html,
    }


@pytest.mark.parametrize(
    ("role", "shown"),
    [
        ("operator", {"apply", "refund"}),
        ("billing_admin", {"apply", "refund", "reverse", "write off"}),
        ("reviewer", set()),
        ("viewer", set()),
    ],
)
def test_the_memo_page_shows_each_role_only_its_settlement_actions(
    client, request, world, role, shown
):
    client.force_login(request.getfixturevalue(role))
    html = client.get(world.untouched.get_absolute_url()).content.decode()
    links = settlement_links(html, world)
    assert {name for name, present in links.items() if present} == shown
    # The unapply forms of the applications table follow the same rule.
    html = client.get(world.credit.get_absolute_url()).content.decode()
    unapply_url = url("memo_unapply", world.credit, world.application.pk)
    assert (unapply_url in html) == bool(shown)


def test_the_memo_page_offers_no_apply_or_refund_once_fully_settled(admin, credit, docs):
    apply(credit, to_invoice(docs.inv1, "50"))
    refund(credit, "50")
    html = admin.get(credit.get_absolute_url()).content.decode()
    for name in ("memo_apply", "memo_refund", "memo_reverse", "memo_write_off"):
        assert url(name, credit) not in html, name


def unapply_form(html: str, memo: Memo, application: MemoApplication) -> str:
    action = url("memo_unapply", memo, application.pk)
    start = html.index(f'action="{action}"')
    return html[start : html.index("</form>", start)]


def test_the_unapply_form_defaults_to_today(op, credit, applied):
    form = unapply_form(op.get(credit.get_absolute_url()).content.decode(), credit, applied)
    assert f'name="effective_date" value="{TODAY():%Y-%m-%d}" min="2025-03-25"' in form


def test_the_unapply_form_defaults_to_a_later_application_date(op, acct, docs):
    """An application dated after today (a memo dated in the future) cannot be undone today."""
    later = TODAY() + dt.timedelta(days=4)
    memo = credit_on(acct, "10", memo_date=later)
    [application] = apply(memo, to_invoice(docs.inv1, "10"), on=later)
    form = unapply_form(op.get(memo.get_absolute_url()).content.decode(), memo, application)
    match = re.search(r'name="effective_date" value="([\d-]+)"', form)
    assert match.group(1) == f"{later:%Y-%m-%d}"
    response = unapply(op, application, effective_date=match.group(1))
    assert messages_of(response) == [f"Unapplied USD 10.00 from {docs.inv1.number}."]
    assert fresh(memo).applied_amount == 0


def test_the_memo_page_offers_no_unapply_for_the_application_of_a_reversal(admin, acct, docs):
    memo = credit_on(acct, "30")
    debit = reverse_credit_memo(credit_memo=memo, actor=None)
    reversal = MemoApplication.objects.get(credit_memo=memo, debit_memo=debit)
    html = admin.get(memo.get_absolute_url()).content.decode()
    assert debit.number in html
    assert url("memo_unapply", memo, reversal.pk) not in html
    # An ordinary application to a debit memo keeps its unapply form.
    other = credit_on(acct, "10")
    [application] = apply(other, to_debit(docs.dm, "5"))
    html = admin.get(other.get_absolute_url()).content.decode()
    assert url("memo_unapply", other, application.pk) in html
