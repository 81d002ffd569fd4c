"""A draft invoice (a bill run's) has Post and Cancel on its page; a coupled pair (generation
rules 3 and 4) posts and cancels together; a draft's balance shows "—", not 0.00 (read as paid)."""

from __future__ import annotations

import html
import re

import pytest

from billing.models import GenerationRule, InvoiceStatus
from memos.models import MemoStatus
from tests.billing.bill_run_helpers import (
    bill_account,
    invoices_of,
    memos_of,
    new_account,
    subscribe,
    use_rule,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def coupled(db):
    use_rule(GenerationRule.NEGATIVE_CHARGES)
    account = new_account()
    subscribe(account, "50", name="Plan")
    subscribe(account, "-10", name="Credit")
    run = bill_account(account)
    [invoice], [memo] = invoices_of(run), memos_of(run)
    return invoice, memo


def page(client, invoice) -> str:
    return " ".join(html.unescape(client.get(invoice.get_absolute_url()).content.decode()).split())


def test_a_draft_invoice_offers_post_and_cancel_naming_its_coupled_memo(operator_client, coupled):
    invoice, memo = coupled
    shown = page(operator_client, invoice)
    assert f">Post with {memo.number}</button>" in shown
    assert ">Cancel invoice</button>" in shown
    assert f"and its coupled credit memo {memo.number}: both are canceled for good" in shown
    assert ">Keep invoice</button>" in shown


def test_post_from_the_page_posts_the_pair(operator_client, coupled):
    invoice, memo = coupled
    response = operator_client.post(f"/invoices/{invoice.number}/post/", follow=True)
    invoice.refresh_from_db()
    memo.refresh_from_db()
    assert (invoice.status, memo.status) == (InvoiceStatus.POSTED, MemoStatus.POSTED)
    assert [m.message for m in response.context["messages"]] == [
        f"{invoice.number} was posted with its coupled credit memo {memo.number}."
    ]
    assert 'data-testid="invoice-actions"' not in response.content.decode()


def test_cancel_from_the_page_cancels_the_pair(operator_client, coupled):
    invoice, memo = coupled
    operator_client.post(f"/invoices/{invoice.number}/cancel/")
    invoice.refresh_from_db()
    memo.refresh_from_db()
    assert (invoice.status, memo.status) == (InvoiceStatus.CANCELED, MemoStatus.CANCELED)


def test_a_posted_invoice_is_refused_in_words_and_unchanged(operator_client, coupled):
    invoice, _ = coupled
    operator_client.post(f"/invoices/{invoice.number}/post/", follow=True)
    response = operator_client.post(f"/invoices/{invoice.number}/cancel/", follow=True)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.POSTED
    [message] = response.context["messages"]
    assert (message.level_tag, message.message) == (
        "error",
        f"Invoice {invoice.number} is Posted; only drafts can be canceled.",
    )


@pytest.mark.parametrize("user", ["viewer", "reviewer"])
def test_roles_that_may_not_post_see_no_actions_and_are_refused(client, request, coupled, user):
    invoice, memo = coupled
    client.force_login(request.getfixturevalue(user))
    assert 'data-testid="invoice-actions"' not in page(client, invoice)
    assert client.post(f"/invoices/{invoice.number}/post/").status_code == 403
    assert client.post(f"/invoices/{invoice.number}/cancel/").status_code == 403
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT


def test_a_draft_balance_is_a_dash_not_zero(operator_client, coupled):
    invoice, _ = coupled
    summary = page(operator_client, invoice).split('data-testid="invoice-balance">')[1]
    assert summary.lstrip().startswith(
        '<span aria-hidden="true">—</span><span class="visually-hidden">'
    )
    listing = page(operator_client, invoice).count("no balance until posted")
    assert listing >= 3  # the summary, each item, the total
    operator_client.post(f"/invoices/{invoice.number}/post/")
    posted = page(operator_client, invoice)
    assert "no balance until posted" not in posted
    assert re.search(r'data-testid="invoice-balance">\s*USD\s+50\.00\s*<', posted)
