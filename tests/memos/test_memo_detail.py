"""The memo page shows every field of the seed, with its label, only where the seed says."""

import re
from decimal import Decimal

import pytest

from billing.factories import BillRunFactory, InvoiceFactory
from memos.factories import MemoFactory, MemoItemFactory
from memos.models import MemoSource, MemoType, TaxStatus

pytestmark = pytest.mark.django_db

ALWAYS = [
    "Memo Type",
    "Customer Account",
    "Amount",
    "Memo Date",
    "Reason Code",
    "Comments",
    "Transferred to Accounting",
]
CREDIT_ONLY = [
    "Unapplied Amount",
    "Refund Amount",
    "Reversed",
    "Auto Apply: Exclude from auto apply rules",
]
DEBIT_ONLY = ["Balance", "Auto-Pay"]


def labels(client, memo) -> list[str]:
    html = client.get(memo.get_absolute_url()).content.decode()
    summary = html.split('data-testid="memo-summary"')[1].split("</dl>")[0]
    return re.findall(r"<dt>(.*?)</dt>", summary)


def test_credit_memo_from_charges(operator_client):
    memo = MemoFactory(memo_type=MemoType.CREDIT)
    shown = labels(operator_client, memo)
    assert set(ALWAYS + CREDIT_ONLY) <= set(shown)
    for absent in DEBIT_ONLY + ["Source", "Related Invoice", "Tax Status", "Tax Message"]:
        assert absent not in shown
    assert "Auto Apply: Apply to this invoice upon posting" not in shown


def test_credit_memo_from_an_invoice_links_it_and_shows_apply_upon_posting(operator_client):
    invoice = InvoiceFactory()
    memo = MemoFactory(source=MemoSource.INVOICE, invoice=invoice, account=invoice.account)
    shown = labels(operator_client, memo)
    assert "Related Invoice" in shown
    assert "Auto Apply: Apply to this invoice upon posting" in shown
    assert (
        f'href="{invoice.get_absolute_url()}"'
        in operator_client.get(memo.get_absolute_url()).content.decode()
    )


def test_debit_memo_shows_balance_and_auto_pay_and_no_credit_fields(operator_client):
    memo = MemoFactory(memo_type=MemoType.DEBIT)
    shown = labels(operator_client, memo)
    assert set(ALWAYS + DEBIT_ONLY) <= set(shown)
    for absent in CREDIT_ONLY + ["Source", "Auto Apply: Apply to this invoice upon posting"]:
        assert absent not in shown


def test_bill_run_credit_memo_shows_its_source_linked(operator_client):
    bill_run = BillRunFactory()
    memo = MemoFactory(source=MemoSource.BILL_RUN, bill_run=bill_run)
    shown = labels(operator_client, memo)
    assert "Source" in shown
    assert (
        f'href="{bill_run.get_absolute_url()}"'
        in operator_client.get(memo.get_absolute_url()).content.decode()
    )


def test_tax_status_and_message_only_for_third_party_taxed_memos(operator_client):
    plain = MemoFactory()
    taxed = MemoFactory(
        taxed_by_third_party=True, tax_status=TaxStatus.ERROR, tax_message="Address invalid"
    )
    assert "Tax Status" not in labels(operator_client, plain)
    shown = labels(operator_client, taxed)
    assert "Tax Status" in shown and "Tax Message" in shown
    assert "Address invalid" in operator_client.get(taxed.get_absolute_url()).content.decode()


def test_items_show_source_tax_mode_and_amounts_in_the_memo_currency(operator_client):
    memo = MemoFactory()
    MemoItemFactory(memo=memo, charge__name="Platform", description="October credit")
    html = operator_client.get(memo.get_absolute_url()).content.decode()
    assert "Platform" in html and "October credit" in html and "Catalog charge" in html
    assert "Tax-Excluded" in html and "Applied (USD)" in html and "Unapplied (USD)" in html


# --- Cancel Post: offered only where it would be accepted; otherwise the reason, before the click


def more_menu(client, memo) -> str:
    html = client.get(memo.get_absolute_url()).content.decode()
    return html.split('data-testid="memo-actions"')[1].split("</ul>")[0]


@pytest.mark.parametrize(
    "state, reason",
    [
        ({"transferred_to_accounting": "yes"}, "is Transferred to Accounting: Yes"),
        ({"applied_amount": "10", "unapplied_amount": "34"}, "has been applied: unapply it"),
        ({"refund_amount": "4", "unapplied_amount": "40"}, "a refund cannot be undone"),
    ],
    ids=["transferred", "applied", "refunded"],
)
def test_cancel_post_is_shown_disabled_with_the_reason(operator_client, state, reason):
    memo = MemoFactory(status="posted", **{"unapplied_amount": "44", **state})
    menu = more_menu(operator_client, memo)
    assert 'data-bs-target="#confirm-unpost"' not in menu
    assert 'data-testid="unpost-refused"' in menu
    assert reason in menu


def test_cancel_post_is_refused_on_a_debit_memo_with_credit_applied(operator_client):
    memo = MemoFactory(memo_type=MemoType.DEBIT, status="posted", balance="20")
    menu = more_menu(operator_client, memo)
    assert 'data-bs-target="#confirm-unpost"' not in menu
    assert "has credit applied to it" in menu


def test_cancel_post_is_offered_on_an_untouched_posted_memo(operator_client):
    memo = MemoFactory(status="posted", unapplied_amount="44")
    menu = more_menu(operator_client, memo)
    assert 'data-bs-target="#confirm-unpost"' in menu
    assert "unpost-refused" not in menu


def test_a_viewer_sees_neither(client, viewer):
    memo = MemoFactory(status="posted", unapplied_amount="44", transferred_to_accounting="yes")
    client.force_login(viewer)
    html = client.get(memo.get_absolute_url()).content.decode()
    assert "Cancel Post" not in html


def test_the_cancel_dialog_states_the_amount_with_keep_and_cancel(operator_client):
    memo = MemoFactory(amount_excl_tax=Decimal("1000"), tax_amount=Decimal("100"))
    html = " ".join(operator_client.get(memo.get_absolute_url()).content.decode().split())
    dialog = html.split('id="confirm-cancel"')[1].split("</form>")[0]
    assert f"Cancel {memo.number} (USD 1,100.00): the draft is canceled for good" in dialog
    assert ">Keep memo</button>" in dialog and ">Cancel memo</button>" in dialog
    assert 'class="btn btn-danger">Cancel memo' in dialog


def test_history_shows_labels_and_formatted_values(operator_client, operator):
    import datetime as dt

    from billing.models import Currency
    from memos.models import MemoEvent
    from memos.services.common import record_event

    memo = MemoFactory(account__currency=Currency.objects.get(code="JPY"))
    record_event(
        memo,
        MemoEvent.Kind.APPLIED,
        actor=operator,
        after={
            "target": "INV00000007",
            "amount": Decimal("2750"),
            "effective_date": dt.date(2026, 11, 29),
        },
    )
    record_event(
        memo,
        MemoEvent.Kind.UPDATED,
        actor=None,
        before={"Auto-Pay": True},
        after={"Auto-Pay": False},
    )
    html = " ".join(operator_client.get(memo.get_absolute_url()).content.decode().split())
    history = html.split('data-testid="memo-history"')[1]
    assert "Document: INV00000007; Amount: JPY 2,750; Effective Date: 2026-11-29" in history
    assert "Auto-Pay: Yes → No" in history
    assert f"· {operator.get_full_name()}</div>" in history
    assert "· system</div>" in history


def page_queries(client, memo) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(memo.get_absolute_url())
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries]


def test_the_memo_page_runs_the_same_queries_for_1_and_200_items(operator_client):
    """Issue "Fast at production scale": each item has its own charge and tax code, so a
    query per item (or per related row) would show."""
    small = MemoFactory(memo_type=MemoType.CREDIT)
    MemoItemFactory(memo=small)
    large = MemoFactory(memo_type=MemoType.CREDIT, account=small.account)
    for _ in range(200):
        MemoItemFactory(memo=large)
    page_queries(operator_client, small)  # the session and the caches warmed once

    one, many = page_queries(operator_client, small), page_queries(operator_client, large)

    assert len(many) == len(one), many
    assert large.items.count() == 200
