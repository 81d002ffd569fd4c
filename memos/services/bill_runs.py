"""Credit memos a bill run generates, posts and cancels (DOMAIN.md section 4). The bill-run
engine calls these, set-based: a chunk of hundreds of accounts makes its credit memos with a
fixed number of statements (rows as plain tuples, COPY on PostgreSQL: billing/bulk.py), and a
run posts or cancels all of its memos the same way."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from billing.bulk import insert_rows
from billing.models import BillRun
from billing.money import ZERO
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
from memos.services.insight import record_credit

# The seeded credit memo reason code for credits a bill run generates (DOMAIN.md 2.8).
BILL_RUN_REASON = "Negative Periodic Charges"


# The columns of a generated item, in the order billing.bill_runs.chunk gives their values.
ITEM_FIELDS = [
    "charge_id",
    "subscription_charge_id",
    "billed_period_id",
    "charge_name",
    "description",
    "service_start",
    "service_end",
    "quantity",
    "unit_of_measure",
    "unit_price",
    "amount_excl_tax",
    "tax_code_id",
    "tax_mode",
    "tax_amount",
    "amount",
]


@dataclass
class CreditMemoDraft:
    """One credit memo to generate: `items` are tuples of ITEM_FIELDS' values (amounts as on
    the memo). `memo_id` is the memo's reserved id (billing.bulk.reserve_ids)."""

    memo_id: int
    account_id: int
    currency_id: str
    items: list[tuple]
    coupled_invoice_id: int | None = None

    @property
    def amount_excl_tax(self):
        return sum((item[AMOUNT_EXCL_TAX] for item in self.items), ZERO)

    @property
    def tax_amount(self):
        return sum((item[TAX_AMOUNT] for item in self.items), ZERO)


AMOUNT_EXCL_TAX = ITEM_FIELDS.index("amount_excl_tax")
TAX_AMOUNT = ITEM_FIELDS.index("tax_amount")


def bill_run_reason_code() -> ReasonCode:
    code = ReasonCode.objects.filter(
        code_type=ReasonCodeType.CREDIT_MEMO, name=BILL_RUN_REASON, active=True
    ).first()
    return code or resolve_reason_code(MemoType.CREDIT, None)


def write_credit_memo_items(*, bill_run: BillRun, drafts: list[CreditMemoDraft]) -> None:
    """The first half of generating the drafts as Draft credit memos: their items and their
    Created events. The memos themselves follow in write_credit_memos (the foreign keys are
    checked at commit), so that the CM counter is taken as late in the chunk's transaction as
    possible. Call inside that transaction."""
    if not drafts:
        return
    insert_rows(
        MemoItem,
        ["memo_id", "sort_order", *ITEM_FIELDS],
        (
            (draft.memo_id, index, *item)
            for draft in drafts
            for index, item in enumerate(draft.items, start=1)
        ),
    )
    message = f"Created by bill run {bill_run.number}"
    insert_rows(
        MemoEvent,
        ["memo_id", "kind", "actor_id", "message", "after"],
        (
            (
                draft.memo_id,
                MemoEvent.Kind.CREATED.value,
                bill_run.created_by_id,
                message,
                {"status": "Draft", "amount": str(draft.amount_excl_tax + draft.tax_amount)},
            )
            for draft in drafts
        ),
    )


def write_credit_memos(
    *, bill_run: BillRun, drafts: list[CreditMemoDraft], numbers: list[str], reason_code
) -> int:
    """Insert the drafts (their items written by write_credit_memo_items) as Draft credit memos
    numbered `numbers` (taken from the CM series by the caller, in the same transaction), with
    Source = the run and Memo Date = its invoice date. Bill-run credits are not checked against
    available to credit. Returns how many."""
    if not drafts:
        return 0
    rows = []
    for draft, number in zip(drafts, numbers, strict=True):
        net, tax = draft.amount_excl_tax, draft.tax_amount
        rows.append(
            (draft.memo_id, number, draft.account_id, draft.currency_id,
             draft.coupled_invoice_id, net, tax, net + tax)
        )  # fmt: skip
    constant = (
        MemoType.CREDIT.value,
        MemoStatus.DRAFT.value,
        MemoSource.BILL_RUN.value,
        bill_run.pk,
        bill_run.invoice_date,
        reason_code.pk,
        bill_run.created_by_id,
    )
    return insert_rows(
        Memo,
        ["id", "number", "account_id", "currency_id", "coupled_invoice_id", "amount_excl_tax",
         "tax_amount", "amount", "memo_type", "status", "source", "bill_run_id", "memo_date",
         "reason_code_id", "created_by_id"],
        (row + constant for row in rows),
    )  # fmt: skip


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
    # The insight's sums (memos.services.insight): the memos this post stamped, by the run and
    # the instant rather than a list of ids, which could be longer than a statement takes.
    record_credit(Memo.objects.filter(bill_run=bill_run, posted_at=now), sign=1)
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
