"""Maker-checker approvals (DOMAIN.md 8) through the services: which memos need approval (at the
threshold and just below, USD and JPY), who may approve (never the creator or the submitter,
whatever their role), approve re-checking every posting rule, an edit withdrawing the
submission, no path posting an unapproved memo, and 20 concurrent approvals posting once."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from billing import roles
from billing.factories import UserFactory, currency
from billing.models import ApprovalRule
from memos.models import ApprovalStatus, Memo, MemoEvent, MemoStatus
from memos.services import recalculate_tax
from memos.services.approval_rules import needs_approval
from memos.services.approvals import approve_memo, reject_memo, submit_memo_for_approval
from memos.services.lifecycle import post_memo, unpost_memo, update_memo_header
from tests.memos.creation_helpers import D, from_invoice, items_of, posted_invoice, row

pytestmark = pytest.mark.django_db

Kind = MemoEvent.Kind


def rule(code: str, threshold: str, memo_type: str = "credit") -> ApprovalRule:
    return ApprovalRule.objects.create(
        memo_type=memo_type, currency=currency(code), threshold=D(threshold)
    )


def memo_of(amount: str, *, code: str = "USD", actor=None, invoice=None) -> Memo:
    """A draft credit memo of exactly `amount` (untaxed) from a posted invoice of 10,000."""
    invoice = invoice or posted_invoice("10000", code=code, taxable=False)
    [item] = items_of(invoice)
    return from_invoice(invoice, [row(item, amount)], actor=actor)


def fresh(memo: Memo) -> Memo:
    return Memo.objects.get(pk=memo.pk)


@pytest.fixture
def operator2(db):
    return UserFactory(username="operator2", roles=[roles.BILLING_OPERATOR])


@pytest.mark.parametrize(
    ("code", "threshold", "at", "below"),
    [("USD", "1000.00", "1000.00", "999.99"), ("JPY", "100000", "100000", "99999")],
)
def test_at_the_threshold_needs_approval_just_below_does_not(code, threshold, at, below, operator):
    rule(code, threshold)
    invoice = posted_invoice("200000", code=code, taxable=False)
    big = memo_of(at, code=code, actor=operator, invoice=invoice)
    small = memo_of(below, code=code, actor=operator, invoice=invoice)
    assert big.amount == D(at) and small.amount == D(below)
    assert needs_approval(big) and not needs_approval(small)
    # Below: posts straight away, and cannot be submitted.
    with pytest.raises(ValidationError):
        submit_memo_for_approval(memo=small, actor=operator)
    assert post_memo(memo=small, actor=operator).status == MemoStatus.POSTED
    # At: Post is refused until approved.
    with pytest.raises(ValidationError) as info:
        post_memo(memo=big, actor=operator)
    assert "needs approval" in info.value.messages[0]
    assert fresh(big).status == MemoStatus.DRAFT


def test_a_rule_is_per_memo_type_and_currency(operator):
    rule("USD", "100", memo_type="debit")
    rule("EUR", "100")
    memo = memo_of("500", actor=operator)
    assert not needs_approval(memo)
    assert post_memo(memo=memo, actor=operator).status == MemoStatus.POSTED


def test_submit_then_a_different_approver_approves_and_it_posts(operator, approver):
    rule("USD", "100")
    memo = memo_of("500", actor=operator)
    submitted = submit_memo_for_approval(memo=memo, actor=operator)
    assert (submitted.status, submitted.approval_status) == (MemoStatus.DRAFT, "awaiting")
    assert submitted.submitted_by == operator and submitted.submitted_at is not None
    # Awaiting approval: a plain post is still refused.
    with pytest.raises(ValidationError, match="awaiting approval"):
        post_memo(memo=memo, actor=operator)
    posted = approve_memo(memo=memo, actor=approver, comment="checked the dispute")
    assert posted.status == MemoStatus.POSTED
    assert (posted.approval_status, posted.approved_by) == (ApprovalStatus.APPROVED, approver)
    history = list(fresh(memo).events.values_list("kind", "actor__username", "message"))
    assert history[-3:] == [
        (Kind.SUBMITTED, "operator", "Submitted for approval (threshold USD 100.00)"),
        (Kind.APPROVED, "approver", "Approved: checked the dispute"),
        (Kind.POSTED, "approver", "Posted"),
    ]


@pytest.mark.parametrize("role", [roles.BILLING_APPROVER, roles.BILLING_ADMIN])
def test_the_creator_may_never_approve_or_reject_even_an_admin(role, operator):
    rule("USD", "100")
    creator = UserFactory(username="maker", roles=[role, roles.BILLING_OPERATOR])
    memo = memo_of("500", actor=creator)
    submit_memo_for_approval(memo=memo, actor=operator)
    with pytest.raises(PermissionDenied, match="You created"):
        approve_memo(memo=memo, actor=creator)
    with pytest.raises(PermissionDenied, match="You created"):
        reject_memo(memo=memo, actor=creator, reason="no")
    assert fresh(memo).approval_status == ApprovalStatus.AWAITING
    assert fresh(memo).status == MemoStatus.DRAFT


@pytest.mark.parametrize("role", [roles.BILLING_APPROVER, roles.BILLING_ADMIN])
def test_the_submitter_may_never_approve_even_an_admin(role, operator):
    rule("USD", "100")
    submitter = UserFactory(username="submitter", roles=[role, roles.BILLING_OPERATOR])
    memo = memo_of("500", actor=operator)
    submit_memo_for_approval(memo=memo, actor=submitter)
    with pytest.raises(PermissionDenied, match="You submitted"):
        approve_memo(memo=memo, actor=submitter)
    assert fresh(memo).status == MemoStatus.DRAFT


def test_a_superuser_creator_is_refused_too(superuser, operator):
    rule("USD", "100")
    memo = memo_of("500", actor=superuser)
    submit_memo_for_approval(memo=memo, actor=operator)
    with pytest.raises(PermissionDenied):
        approve_memo(memo=memo, actor=superuser)


def test_approving_needs_the_permission(operator, operator2):
    rule("USD", "100")
    memo = memo_of("500", actor=operator)
    submit_memo_for_approval(memo=memo, actor=operator)
    with pytest.raises(PermissionDenied, match="permission"):
        approve_memo(memo=memo, actor=operator2)
    assert fresh(memo).status == MemoStatus.DRAFT


def test_approve_rechecks_available_to_credit(operator, approver):
    """An over-credit created meanwhile (a smaller memo posted from the same invoice) is refused
    at approval; nothing is approved and the memo still awaits approval."""
    rule("USD", "1000")
    invoice = posted_invoice("1000", taxable=False)
    [item] = items_of(invoice)
    big = from_invoice(invoice, [row(item, "1000")], actor=operator)
    submit_memo_for_approval(memo=big, actor=operator)
    small = from_invoice(invoice, [row(item, "100")], actor=operator)
    post_memo(memo=small, actor=operator)
    events_before = fresh(big).events.count()
    with pytest.raises(ValidationError, match="available to credit"):
        approve_memo(memo=big, actor=approver)
    big = fresh(big)
    assert (big.status, big.approval_status) == (MemoStatus.DRAFT, ApprovalStatus.AWAITING)
    assert big.approved_by is None and big.events.count() == events_before


def test_reject_needs_a_reason_and_returns_to_plain_draft(operator, approver):
    rule("USD", "100")
    memo = memo_of("500", actor=operator)
    submit_memo_for_approval(memo=memo, actor=operator)
    for blank in ("", "   "):
        with pytest.raises(ValidationError, match="Say why"):
            reject_memo(memo=memo, actor=approver, reason=blank)
    assert fresh(memo).approval_status == ApprovalStatus.AWAITING
    rejected = reject_memo(memo=memo, actor=approver, reason="Wrong account")
    assert (rejected.status, rejected.approval_status) == (MemoStatus.DRAFT, ApprovalStatus.NONE)
    assert rejected.submitted_by is None
    event = fresh(memo).events.latest("id")
    assert (event.kind, event.actor, event.message) == (
        Kind.REJECTED,
        approver,
        "Rejected: Wrong account",
    )
    # Plain Draft again: still not postable without a new submission.
    with pytest.raises(ValidationError, match="needs approval"):
        post_memo(memo=memo, actor=operator)
    with pytest.raises(ValidationError, match="not awaiting approval"):
        approve_memo(memo=memo, actor=approver)


def test_an_edit_withdraws_the_submission(operator, approver):
    rule("USD", "100")
    memo = memo_of("500", actor=operator)
    submit_memo_for_approval(memo=memo, actor=operator)
    update_memo_header(memo=memo, actor=operator, comments="changed")
    memo = fresh(memo)
    assert memo.approval_status == ApprovalStatus.NONE and memo.submitted_by is None
    event = memo.events.latest("id")
    assert (event.kind, event.message) == (Kind.WITHDRAWN, "Submission withdrawn: edited Comments")
    with pytest.raises(ValidationError, match="not awaiting approval"):
        approve_memo(memo=memo, actor=approver)


def test_a_header_form_sending_the_same_values_withdraws_nothing(operator):
    rule("USD", "100")
    memo = memo_of("500", actor=operator)
    submit_memo_for_approval(memo=memo, actor=operator)
    update_memo_header(memo=memo, actor=operator, comments=fresh(memo).comments)
    assert fresh(memo).approval_status == ApprovalStatus.AWAITING


def test_recalculating_tax_withdraws_the_submission(operator):
    rule("USD", "100")
    memo = memo_of("500", actor=operator)
    submit_memo_for_approval(memo=memo, actor=operator)
    recalculate_tax(memo=memo, actor=operator)
    assert fresh(memo).approval_status == ApprovalStatus.NONE


def test_unposting_an_approved_memo_needs_a_new_approval(operator, approver):
    rule("USD", "100")
    memo = memo_of("500", actor=operator)
    submit_memo_for_approval(memo=memo, actor=operator)
    approve_memo(memo=memo, actor=approver)
    unpost_memo(memo=memo, actor=operator)
    assert fresh(memo).approval_status == ApprovalStatus.NONE
    with pytest.raises(ValidationError, match="needs approval"):
        post_memo(memo=memo, actor=operator)


def test_submitting_twice_or_a_posted_memo_is_refused(operator, approver):
    rule("USD", "100")
    memo = memo_of("500", actor=operator)
    submit_memo_for_approval(memo=memo, actor=operator)
    with pytest.raises(ValidationError, match="already awaiting"):
        submit_memo_for_approval(memo=memo, actor=operator)
    approve_memo(memo=memo, actor=approver)
    with pytest.raises(ValidationError, match="Posted"):
        submit_memo_for_approval(memo=memo, actor=operator)
    with pytest.raises(ValidationError, match="Posted"):
        approve_memo(memo=memo, actor=approver)


def test_threshold_validation_follows_the_currency():
    bad = ApprovalRule(memo_type="credit", currency=currency("JPY"), threshold=D("100.5"))
    with pytest.raises(ValidationError) as info:
        bad.full_clean()
    assert "threshold" in info.value.message_dict
    with pytest.raises(ValidationError):
        ApprovalRule(memo_type="credit", currency=currency("USD"), threshold=D("0")).full_clean()
    rule("USD", "100")
    with pytest.raises(ValidationError):
        ApprovalRule(memo_type="credit", currency=currency("USD"), threshold=D("5")).full_clean()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_20_concurrent_approvals_post_the_memo_once(operator):
    rule("USD", "100")
    memo = memo_of("500", actor=operator)
    submit_memo_for_approval(memo=memo, actor=operator)
    approvers = [
        UserFactory(username=f"approver{i}", roles=[roles.BILLING_APPROVER]) for i in range(20)
    ]
    barrier = threading.Barrier(20)
    lock = threading.Lock()
    done, refused, errors = [], [], []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            approve_memo(memo=Memo(pk=memo.pk), actor=approvers[index])
            with lock:
                done.append(index)
        except ValidationError as exc:
            with lock:
                refused.append(exc.code)
        except BaseException as exc:  # reported by the main thread
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    assert len(done) == 1 and len(refused) == 19
    assert set(refused) == {"state"}
    memo = fresh(memo)
    assert memo.status == MemoStatus.POSTED
    assert memo.approved_by == approvers[done[0]]
    assert memo.events.filter(kind=Kind.POSTED).count() == 1
    assert memo.events.filter(kind=Kind.APPROVED).count() == 1
