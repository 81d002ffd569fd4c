"""The new-bill-run form says how many accounts are in scope, and follows the scope as it
changes."""

from __future__ import annotations

import pytest

from billing.factories import AccountFactory
from billing.models import AccountStatus

pytestmark = pytest.mark.django_db
NEW = "/bill-runs/new/"


@pytest.fixture
def accounts(db):
    return [
        AccountFactory(batch="Batch1", bill_cycle_day=1),
        AccountFactory(batch="Batch1", bill_cycle_day=15),
        AccountFactory(batch="Batch2", bill_cycle_day=1),
        AccountFactory(batch="Batch1", bill_cycle_day=1, status=AccountStatus.INACTIVE),
    ]


def count(client, **params) -> str:
    response = client.get(NEW, {"preview": "scope", **params}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return " ".join(response.content.decode().split())


def test_the_page_opens_with_the_count_of_all_active_accounts(operator_client, accounts):
    page = " ".join(operator_client.get(NEW).content.decode().split())
    assert 'data-testid="scope-count"><strong>3</strong> accounts in scope.</p>' in page


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"scope": "all"}, "<strong>3</strong> accounts in scope."),
        ({"scope": "batch", "batch": "Batch1"}, "<strong>2</strong> accounts in scope."),
        (
            {"scope": "batch", "batch": "Batch1", "bill_cycle_day": "1"},
            "<strong>1</strong> account in scope.",
        ),
        ({"scope": "batch", "bill_cycle_day": "1"}, "<strong>2</strong> accounts in scope."),
        ({"scope": "batch", "bill_cycle_day": "40"}, "<strong>0</strong> accounts in scope."),
        (
            {"scope": "account", "account": ""},
            "Choose the scope to see how many accounts it covers.",
        ),
        (
            {"scope": "account", "account": "NOPE"},
            "Choose the scope to see how many accounts it covers.",
        ),
        (
            {"scope": "batch", "bill_cycle_day": "x"},
            "Choose the scope to see how many accounts it covers.",
        ),
    ],
)
def test_the_count_follows_the_scope(operator_client, accounts, params, expected):
    assert count(operator_client, **params) == expected


def test_one_account_counts_one_even_inactive(operator_client, accounts):
    assert count(operator_client, scope="account", account=accounts[3].number) == (
        "<strong>1</strong> account in scope."
    )


def test_a_viewer_may_not_ask(client, viewer, accounts):
    client.force_login(viewer)
    response = client.get(NEW, {"preview": "scope"}, headers={"HX-Request": "true"})
    assert response.status_code == 403
