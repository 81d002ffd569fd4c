"""A memo whose tax the third-party engine could not calculate says so, and offers what it needs:
"Recalculate tax" as its primary action, not "Post" (which would be refused)."""

from __future__ import annotations

import html

import pytest

from memos.factories import MemoFactory
from memos.models import Memo, TaxStatus
from tests.memos.test_creation_views import from_invoice_url, invoice_form_data
from tests.memos.test_creation_views_idempotency import platform_and_support_invoice

pytestmark = pytest.mark.django_db


def actions_of(page: str) -> tuple[str, str]:
    block = page.split('data-testid="memo-actions"')[1]
    primary, more = block.split('class="dropdown"', 1)
    return primary, more.split("</ul>")[0]


def test_creation_with_a_failed_engine_warns_instead_of_congratulating(tax_engine, operator_client):
    tax_engine.mode = "error"
    invoice = platform_and_support_invoice()
    response = operator_client.post(
        from_invoice_url(invoice), invoice_form_data(invoice, {"Platform": "40"}), follow=True
    )
    memo = Memo.objects.get()
    assert memo.tax_status == TaxStatus.ERROR
    shown = [(m.level_tag, m.message) for m in response.context["messages"]]
    assert shown == [
        (
            "warning",
            f"Credit memo {memo.number} was created as a draft, but its tax could not be "
            "calculated; recalculate tax before posting it.",
        )
    ]


def test_the_memo_page_warns_and_offers_recalculate_tax_first(operator_client):
    memo = MemoFactory(
        taxed_by_third_party=True,
        tax_status=TaxStatus.ERROR,
        tax_message="The tax engine did not answer within 5 seconds",
    )
    page = " ".join(
        html.unescape(operator_client.get(memo.get_absolute_url()).content.decode()).split()
    )
    assert 'data-testid="tax-error"' in page
    assert "cannot be posted yet: The tax engine did not answer within 5 seconds" in page
    primary, more = actions_of(page)
    assert ">Recalculate tax</button>" in primary
    assert ">Post</button>" not in primary
    assert "Post</span> is not available: the tax has not been calculated" in more


def test_a_memo_with_complete_tax_posts_as_usual(operator_client):
    memo = MemoFactory(taxed_by_third_party=True, tax_status=TaxStatus.COMPLETE)
    page = operator_client.get(memo.get_absolute_url()).content.decode()
    assert 'data-testid="tax-error"' not in page
    primary, more = actions_of(page)
    assert ">Post</button>" in primary
    assert ">Recalculate tax</button>" in more
