"""The memo page's actions: who may use each endpoint, what the page shows them, the messages."""

import pytest
from django.urls import reverse

from memos.factories import MemoFactory, MemoItemFactory
from memos.models import MemoStatus, MemoType, TransferStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft():
    memo = MemoFactory()
    MemoItemFactory(memo=memo)
    return memo


@pytest.fixture
def posted():
    return MemoFactory(status=MemoStatus.POSTED, memo_type=MemoType.DEBIT)


def url(name, memo):
    return reverse(f"memos:{name}", args=[memo.number])


@pytest.mark.parametrize("name", ["memo_post", "memo_cancel", "memo_recalculate_tax"])
@pytest.mark.parametrize("role", ["reviewer", "viewer", "no_role_user"])
def test_only_operators_and_admins_process_memos(client, request, role, name, draft):
    client.force_login(request.getfixturevalue(role))
    assert client.post(url(name, draft)).status_code == 403
    draft.refresh_from_db()
    assert draft.status == MemoStatus.DRAFT


def test_operator_posts_then_cancels_the_post(operator_client, draft):
    response = operator_client.post(url("memo_post", draft), follow=True)
    draft.refresh_from_db()
    assert draft.status == MemoStatus.POSTED
    assert f"{draft.number} was posted." in response.content.decode()
    operator_client.post(url("memo_unpost", draft))
    draft.refresh_from_db()
    assert draft.status == MemoStatus.DRAFT


def test_a_refused_action_says_why_and_changes_nothing(operator_client, posted):
    posted.transferred_to_accounting = TransferStatus.YES
    posted.save()
    response = operator_client.post(url("memo_unpost", posted), follow=True)
    posted.refresh_from_db()
    assert posted.status == MemoStatus.POSTED
    assert "Transferred to Accounting: Yes" in response.content.decode()


def test_actions_are_get_proof(operator_client, draft):
    assert operator_client.get(url("memo_post", draft)).status_code == 405
    draft.refresh_from_db()
    assert draft.status == MemoStatus.DRAFT


def test_htmx_action_answers_with_a_client_redirect(operator_client, draft):
    response = operator_client.post(url("memo_cancel", draft), headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == draft.get_absolute_url()
    draft.refresh_from_db()
    assert draft.status == MemoStatus.CANCELED


def test_delete_needs_its_own_permission_which_no_role_has(client, billing_admin, superuser):
    memo = MemoFactory(status=MemoStatus.CANCELED)
    client.force_login(billing_admin)
    assert client.post(url("memo_delete", memo)).status_code == 403
    client.force_login(superuser)
    response = client.post(url("memo_delete", memo))
    assert response.status_code == 302 and response.url == reverse("memos:memo_list")
    assert not type(memo).objects.filter(pk=memo.pk).exists()


def test_the_page_shows_only_the_actions_the_user_may_take(
    client, operator, viewer, reviewer, draft
):
    client.force_login(operator)
    html = client.get(draft.get_absolute_url()).content.decode()
    assert ">Post</button>" in html and "Cancel memo" in html and "Recalculate tax" in html
    assert "Cancel Post" not in html and ">Delete</button>" not in html
    for user in (viewer, reviewer):
        client.force_login(user)
        html = client.get(draft.get_absolute_url()).content.decode()
        assert 'data-testid="memo-actions"' not in html


def test_reviewer_changes_transferred_to_accounting_in_place(client, reviewer, posted):
    client.force_login(reviewer)
    response = client.post(
        url("memo_transfer", posted),
        {"transferred_to_accounting": "processing"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'id="transfer-' in html and "Saved" in html
    assert response["HX-Trigger"] and "memoChanged" in response["HX-Trigger"]
    posted.refresh_from_db()
    assert posted.transferred_to_accounting == TransferStatus.PROCESSING


def test_reviewer_cannot_leave_yes_and_admin_can(client, reviewer, billing_admin, posted):
    posted.transferred_to_accounting = TransferStatus.YES
    posted.save()
    client.force_login(reviewer)
    html = client.post(
        url("memo_transfer", posted),
        {"transferred_to_accounting": "no"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "override permission" in html
    posted.refresh_from_db()
    assert posted.transferred_to_accounting == TransferStatus.YES
    client.force_login(billing_admin)
    client.post(url("memo_transfer", posted), {"transferred_to_accounting": "no"})
    posted.refresh_from_db()
    assert posted.transferred_to_accounting == TransferStatus.NO


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_operator_and_viewer_cannot_change_transferred_to_accounting(client, request, role, posted):
    client.force_login(request.getfixturevalue(role))
    assert (
        client.post(url("memo_transfer", posted), {"transferred_to_accounting": "yes"}).status_code
        == 403
    )
    posted.refresh_from_db()
    assert posted.transferred_to_accounting == TransferStatus.NO


def test_transfer_on_a_draft_is_refused_with_a_message(client, reviewer, draft):
    client.force_login(reviewer)
    response = client.post(
        url("memo_transfer", draft), {"transferred_to_accounting": "yes"}, follow=True
    )
    assert "can only change on posted memos" in response.content.decode()
    draft.refresh_from_db()
    assert draft.transferred_to_accounting == TransferStatus.NO
