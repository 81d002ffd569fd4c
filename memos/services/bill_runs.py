"""Credit memos a bill run generates, posts and cancels (DOMAIN.md section 4). The bill-run
engine calls these, set-based: a chunk of hundreds of accounts makes its credit memos with a
fixed number of statements, and a run posts or cancels all of its memos the same way."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from billing.models import Account, BillRun, Invoice, NumberSeries
from billing.numbering import allocate_numbers
from memos.models import (
    Memo,
    MemoEvent,
    MemoItem,
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCode,
    ReasonCodeType,
)
from memos.services.common import resolve_reason_code

# The seeded credit memo reason code for credits a bill run generates (DOMAIN.md 2.8).
BILL_RUN_REASON = "Negative Periodic Charges"


@dataclass
class CreditMemoDraft:
    """One credit memo to generate: `items` are unsaved MemoItems (amounts as on the memo)."""

    account: Account
    items: list[MemoItem]
    coupled_invoice: Invoice | None = None
    memo: Memo | None = field(default=None, init=False)


def bill_run_reason_code() -> ReasonCode:
    code = ReasonCode.objects.filter(
        code_type=ReasonCodeType.CREDIT_MEMO, name=BILL_RUN_REASON, active=True
    ).first()
    return code or resolve_reason_code(MemoType.CREDIT, None)


def create_bill_run_credit_memos(
    *, bill_run: BillRun, drafts: list[CreditMemoDraft], reason_code: ReasonCode
) -> list[Memo]:
    """Insert the drafts as Draft credit memos with Source = the run and Memo Date = its invoice
    date. Bill-run credits are not checked against available to credit. Call inside the chunk's
    transaction; the CM counter is taken once, as late as possible."""
    if not drafts:
        return []
    numbers = allocate_numbers(NumberSeries.Key.CREDIT_MEMO, len(drafts))
    memos = []
    for draft, number in zip(drafts, numbers, strict=True):
        net = sum((item.amount_excl_tax for item in draft.items), 0)
        tax = sum((item.tax_amount for item in draft.items), 0)
        draft.memo = Memo(
            memo_type=MemoType.CREDIT,
            number=number,
            account=draft.account,
            currency_id=draft.account.currency_id,
            status=MemoStatus.DRAFT,
            source=MemoSource.BILL_RUN,
            bill_run=bill_run,
            coupled_invoice=draft.coupled_invoice,
            memo_date=bill_run.invoice_date,
            amount_excl_tax=net,
            tax_amount=tax,
            amount=net + tax,
            reason_code=reason_code,
            created_by_id=bill_run.created_by_id,
        )
        memos.append(draft.memo)
    Memo.objects.bulk_create(memos)
    items = []
    for draft in drafts:
        for item in draft.items:
            item.memo = draft.memo
            items.append(item)
    MemoItem.objects.bulk_create(items)
    MemoEvent.objects.bulk_create(
        MemoEvent(
            memo=memo,
            kind=MemoEvent.Kind.CREATED,
            actor_id=bill_run.created_by_id,
            message=f"Created by bill run {bill_run.number}",
            after={"status": "Draft", "amount": str(memo.amount)},
        )
        for memo in memos
    )
    return memos


def post_bill_run_credit_memos(*, bill_run: BillRun, memo_ids: list[int], actor) -> int:
    """Post the run's draft credit memos `memo_ids`, which the caller has locked (with the run)
    and whose period it has checked. Bill-run memos have no related invoice: nothing is
    auto-applied."""
    if not memo_ids:
        return 0
    now = timezone.now()
    Memo.objects.filter(pk__in=memo_ids, status=MemoStatus.DRAFT).update(
        status=MemoStatus.POSTED, posted_at=now, updated_at=now
    )
    _record_all(memo_ids, MemoEvent.Kind.POSTED, actor, f"Posted with bill run {bill_run.number}",
                "Draft", "Posted")  # fmt: skip
    return len(memo_ids)


def cancel_bill_run_credit_memos(*, bill_run: BillRun, memo_ids: list[int], actor) -> int:
    """Cancel the run's draft credit memos `memo_ids`, locked by the caller (who releases
    their billed periods)."""
    if not memo_ids:
        return 0
    Memo.objects.filter(pk__in=memo_ids, status=MemoStatus.DRAFT).update(
        status=MemoStatus.CANCELED, updated_at=timezone.now()
    )
    _record_all(memo_ids, MemoEvent.Kind.CANCELED, actor,
                f"Canceled with bill run {bill_run.number}", "Draft", "Canceled")  # fmt: skip
    return len(memo_ids)


def _record_all(ids, kind, actor, message, before, after) -> None:
    actor_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    MemoEvent.objects.bulk_create(
        MemoEvent(
            memo_id=pk,
            kind=kind,
            actor_id=actor_id,
            message=message,
            before={"status": before},
            after={"status": after},
        )
        for pk in ids
    )
