"""A run's documents in the invoice and memo lists (?bill_run=), linked from its page's tabs."""

import pytest
from django.urls import reverse

from billing import bill_run_views
from billing.factories import AccountFactory
from billing.models import GenerationRule
from tests.billing.bill_run_helpers import bill, bill_account, subscribe, use_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_runs(operator):
    use_rule(GenerationRule.NEGATIVE_CHARGES)
    first = [AccountFactory() for _ in range(3)]
    for account in first:
        subscribe(account, "50")
        subscribe(account, "-10")
    run = bill(operator)
    other_account = AccountFactory()
    subscribe(other_account, "70")
    subscribe(other_account, "-5")
    other = bill_account(other_account, actor=operator)
    return run, other


def numbers_in(response, prefix):
    return {row.number for row in response.context["rows"] if row.number.startswith(prefix)}


def test_invoice_and_memo_lists_filter_by_bill_run(client, operator, two_runs):
    run, other = two_runs
    client.force_login(operator)

    invoices = client.get(reverse("billing:invoice_list"), {"bill_run": run.number})
    assert numbers_in(invoices, "INV") == set(run.invoices.values_list("number", flat=True))
    assert len(numbers_in(invoices, "INV")) == 3

    memos = client.get(reverse("memos:memo_list"), {"bill_run": run.number.lower()})
    assert numbers_in(memos, "CM") == set(run.credit_memos.values_list("number", flat=True))
    assert len(numbers_in(memos, "CM")) == 3

    nothing = client.get(reverse("billing:invoice_list"), {"bill_run": "BR-99999999"})
    assert numbers_in(nothing, "INV") == set()


def test_a_tab_beyond_its_rows_links_to_the_full_list(client, operator, two_runs, monkeypatch):
    run, _ = two_runs
    monkeypatch.setattr(bill_run_views, "TAB_ROWS", 2)
    client.force_login(operator)

    page = client.get(run.get_absolute_url()).content.decode()
    assert "Showing the first 2 of 3." in page
    assert f"{reverse('billing:invoice_list')}?bill_run={run.number}" in page

    memos_tab = client.get(run.get_absolute_url(), {"tab": "credit_memos"}).content.decode()
    assert f"{reverse('memos:memo_list')}?bill_run={run.number}" in memos_tab
