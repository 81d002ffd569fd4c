"""The memo lifecycle (DOMAIN.md 2.1, 2.4, 2.5): post, unpost, cancel, delete, header edits (and
a refund's comment), and Transferred to Accounting.

Every transition locks the memo row, re-checks the status it read against ALLOWED_TRANSITIONS,
and writes a history event in the same transaction. Locks are taken in one order everywhere:
memos (by id) before invoices (by id), so concurrent operators cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing import tax_engine
from billing.bill_runs.ledger import release_billed_periods
from billing.busy import retry_when_busy
from billing.models import BilledPeriod, Invoice, InvoiceStatus
from billing.services import cancel_invoice, ensure_open_period, post_invoice
from memos.models import (
    Memo,
    MemoEvent,
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCode,
    Refund,
    TaxStatus,
    TransferStatus,
)
from memos.services.approval_rules import (
    approval_refusal,
    clear_approval,
    withdraw_submission,
)
from memos.services.availability import check_available_to_credit, requested_of
from memos.services.common import record_event, resolve_reason_code
from memos.services.insight import record_credit

logger = logging.getLogger(__name__)

# The only status changes there are; anything else is refused.
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    MemoStatus.DRAFT: {MemoStatus.POSTED, MemoStatus.CANCELED},
    MemoStatus.POSTED: {MemoStatus.DRAFT},
    MemoStatus.CANCELED: set(),
}


def lock_memo(memo: Memo) -> Memo:
    # of=("self",): PostgreSQL cannot lock the nullable side of the invoice outer join.
    return (
        Memo.objects.select_for_update(of=("self",))
        .select_related("currency", "account", "invoice", "reason_code", "coupled_invoice")
        .get(pk=memo.pk)
    )


def _transition(memo: Memo, target: str, verb: str) -> None:
    if target not in ALLOWED_TRANSITIONS[memo.status]:
        raise ValidationError(
            f"{memo.number} is {memo.get_status_display()}: it cannot be {verb}.",
            code="invalid_transition",
        )


@retry_when_busy
@transaction.atomic
def post_memo(*, memo: Memo, actor) -> Memo:
    """Post a Draft memo; a from-invoice credit memo is re-checked against what is available."""
    locked = lock_memo(memo)
    _transition(locked, MemoStatus.POSTED, "posted")
    if locked.taxed_by_third_party and locked.tax_status == TaxStatus.ERROR:
        raise ValidationError(
            f"{locked.number} has a tax error ({locked.tax_message}): "
            "recalculate tax before posting.",
            code="tax_error",
        )
    # DOMAIN.md 8: at or above its threshold a memo posts only once approved, whoever asks
    # (the memo page, Save and post, the API, the admin, a coupled invoice's post).
    refusal = approval_refusal(locked)
    if refusal:
        raise ValidationError(refusal, code="needs_approval")
    ensure_open_period(locked.memo_date, field="Memo Date")
    invoice = None
    if locked.memo_type == MemoType.CREDIT and locked.source == MemoSource.INVOICE:
        # Two drafts may each fit; whichever posts second must still fit (DOMAIN.md 2.2).
        invoice = Invoice.objects.select_for_update().get(pk=locked.invoice_id)
        requested = requested_of(
            locked.items.values_list("invoice_item_id", "amount", "tax_amount")
        )
        check_available_to_credit(invoice=invoice, requested=requested)
    locked.status = MemoStatus.POSTED
    locked.posted_at = timezone.now()
    if locked.memo_type == MemoType.DEBIT:
        locked.balance = locked.amount
    locked.save(update_fields=["status", "posted_at", "balance", "updated_at"])
    if locked.memo_type == MemoType.CREDIT:
        record_credit(Memo.objects.filter(pk=locked.pk), sign=1)
    record_event(
        locked,
        MemoEvent.Kind.POSTED,
        actor=actor,
        message="Posted",
        before={"status": "Draft"},
        after={"status": "Posted"},
    )
    if locked.coupled_invoice_id:
        # Generation rules 3 and 4: the run's invoice for the account posts with its credit memo.
        coupled = Invoice.objects.get(pk=locked.coupled_invoice_id)
        if coupled.status == InvoiceStatus.DRAFT:
            post_invoice(invoice=coupled)
    if (
        locked.memo_type == MemoType.CREDIT
        and locked.apply_to_invoice_on_post
        and invoice is not None
    ):
        _auto_apply(locked, invoice, actor)
        locked.refresh_from_db()
    return locked


def _auto_apply(memo: Memo, invoice: Invoice, actor) -> None:
    """Apply min(unapplied, invoice balance) to the related invoice (DOMAIN.md section 3), under
    the locks post_memo already holds (memo, then invoice)."""
    from memos.services.settlement import ApplicationTarget, apply_locked

    amount = min(memo.unapplied_amount, invoice.balance)
    if invoice.status == InvoiceStatus.POSTED and amount > 0:
        target = ApplicationTarget(invoice=invoice, amount=amount)
        apply_locked(
            {memo.pk: memo}, {invoice.pk: invoice}, memo.pk, [target], memo.memo_date, actor
        )


def unpost_refusal(memo: Memo) -> ValidationError | None:
    """Why Cancel Post would be refused for this Posted memo as it stands, or None.

    The service raises it; the memo page shows it beside a disabled "Cancel Post", so an operator
    learns the rule before the click, not after.
    """
    if memo.transferred_to_accounting == TransferStatus.YES:
        return ValidationError(
            f"{memo.number} is Transferred to Accounting: Yes, so its post cannot be canceled.",
            code="transferred",
        )
    # A refund paid money out and cannot be undone here, so it is final; an application can be.
    if memo.memo_type == MemoType.CREDIT and memo.refund_amount:
        return ValidationError(
            f"{memo.number} has been refunded, and a refund cannot be undone, so its post "
            "cannot be canceled.",
            code="settled",
        )
    if memo.memo_type == MemoType.CREDIT and memo.applied_amount:
        return ValidationError(
            f"{memo.number} has been applied: unapply it before canceling its post.",
            code="settled",
        )
    if memo.memo_type == MemoType.DEBIT and memo.balance != memo.amount:
        return ValidationError(
            f"{memo.number} has credit applied to it: unapply that credit first.",
            code="settled",
        )
    if memo.coupled_invoice_id and memo.coupled_invoice.status == InvoiceStatus.POSTED:
        return ValidationError(
            f"{memo.number} was posted together with invoice {memo.coupled_invoice.number}, "
            "and a posted invoice cannot be unposted.",
            code="coupled",
        )
    try:
        ensure_open_period(memo.memo_date, field="Memo Date")
    except ValidationError as closed:
        return closed
    return None


@retry_when_busy
@transaction.atomic
def unpost_memo(*, memo: Memo, actor) -> Memo:
    """Cancel Post: back to Draft, unless settled in any way or already in the ledger."""
    locked = lock_memo(memo)
    _transition(locked, MemoStatus.DRAFT, "unposted")
    refusal = unpost_refusal(locked)
    if refusal is not None:
        raise refusal
    if locked.memo_type == MemoType.CREDIT:
        record_credit(Memo.objects.filter(pk=locked.pk), sign=-1)
    locked.status = MemoStatus.DRAFT
    locked.posted_at = None
    # An approval was for one post: posted again, the memo is approved again.
    clear_approval(locked)
    locked.save(
        update_fields=[
            "status",
            "posted_at",
            "updated_at",
            "approval_status",
            "submitted_by",
            "submitted_at",
            "approved_by",
            "approved_at",
        ]
    )
    record_event(
        locked,
        MemoEvent.Kind.UNPOSTED,
        actor=actor,
        message="Post canceled",
        before={"status": "Posted"},
        after={"status": "Draft"},
    )
    return locked


@retry_when_busy
@transaction.atomic
def cancel_memo(*, memo: Memo, actor) -> Memo:
    """Cancel a Draft memo; tax committed to the third-party engine is voided there."""
    locked = lock_memo(memo)
    _transition(locked, MemoStatus.CANCELED, "canceled")
    after = {"status": "Canceled"}
    if locked.tax_maybe_committed:
        # Committed, or perhaps committed by a call whose answer never came (Tax Status Error):
        # voided by its reference either way, and the cancel waits until the engine confirms.
        try:
            tax_engine.void(document_number=locked.tax_reference)
        except tax_engine.TaxEngineError as exc:
            if locked.tax_status == TaxStatus.COMPLETE:
                message = f"{locked.number} was not canceled: its tax could not be voided ({exc})."
            else:
                message = (
                    f"{locked.number} was not canceled: the tax the engine may hold for it could "
                    f"not be voided ({exc}). Try again, or recalculate tax and then cancel."
                )
            raise ValidationError(message, code="tax_void_failed") from exc
        locked.tax_status = TaxStatus.VOIDED
        locked.tax_maybe_committed = False
        after["tax_status"] = "Voided"
    locked.status = MemoStatus.CANCELED
    locked.save(update_fields=["status", "tax_status", "tax_maybe_committed", "updated_at"])
    coupled_draft = (
        locked.coupled_invoice_id and locked.coupled_invoice.status == InvoiceStatus.DRAFT
    )
    if locked.source == MemoSource.BILL_RUN:
        # The charge periods it credited can be billed again, released in one go with its
        # coupled invoice's: a charge can have periods on both (rule 3 leaves a credit's zero
        # proration line on the invoice), and released apart its charged-through date would
        # not move back over the earlier ones.
        periods = Q(memo_items__memo=locked)
        if coupled_draft:
            # Memo, then invoice, then charges: the lock order of the bill run's own cancel.
            Invoice.objects.select_for_update().get(pk=locked.coupled_invoice_id)
            periods |= Q(invoice_items__invoice_id=locked.coupled_invoice_id)
        release_billed_periods(BilledPeriod.objects.filter(periods))
    if coupled_draft:
        cancel_invoice(invoice=locked.coupled_invoice)
    record_event(
        locked,
        MemoEvent.Kind.CANCELED,
        actor=actor,
        message="Canceled",
        before={"status": "Draft"},
        after=after,
    )
    return locked


def deletion_refusal(memo: Memo) -> str | None:
    """Why the memo cannot be deleted, in words, or None if it can (DOMAIN.md 2.1)."""
    if memo.status != MemoStatus.CANCELED:
        return f"{memo.number} is {memo.get_status_display()}: only canceled memos can be deleted."
    return None


@retry_when_busy
@transaction.atomic
def delete_memo(*, memo: Memo, actor) -> str:
    """Delete a Canceled memo for good (a permission no role has). Returns its number."""
    locked = lock_memo(memo)
    refusal = deletion_refusal(locked)
    if refusal:
        raise ValidationError(refusal, code="not_canceled")
    number = locked.number
    locked.delete()
    # The memo's history goes with it, so the deletion is recorded in the log.
    logger.info(
        "Memo %s (%s) deleted by %s", number, locked.amount, getattr(actor, "username", actor)
    )
    return number


def is_fully_settled(memo: Memo) -> bool:
    if memo.status != MemoStatus.POSTED:
        return False
    return memo.unapplied_amount == 0 if memo.memo_type == MemoType.CREDIT else memo.balance == 0


def _shown(value):
    """A value as a history event stores it (a reason code by its name)."""
    return value.name if isinstance(value, ReasonCode) else value


def editable_header_fields(memo: Memo, *, may_change_reason_code: bool) -> set[str]:
    """The header fields update_memo_header would change on this memo for this user now.

    The Django admin shows only these as inputs (DOMAIN.md 2.4); the service checks again.
    """
    if memo.status == MemoStatus.CANCELED:
        return {"comments"}
    fields = {"comments"}
    # A bill run's credit memo is dated its run's invoice date.
    if memo.status == MemoStatus.DRAFT and memo.source != MemoSource.BILL_RUN:
        fields.add("memo_date")
    if may_change_reason_code:
        fields.add("reason_code")
    if not is_fully_settled(memo):
        if memo.memo_type == MemoType.DEBIT:
            fields.add("auto_pay")
        else:
            fields.add("exclude_from_auto_apply")
            if memo.invoice_id:
                fields.add("apply_to_invoice_on_post")
    return fields


@retry_when_busy
@transaction.atomic
def update_memo_header(
    *,
    memo: Memo,
    actor,
    comments: str | None = None,
    memo_date: dt.date | None = None,
    reason_code: ReasonCode | None = None,
    auto_pay: bool | None = None,
    apply_to_invoice_on_post: bool | None = None,
    exclude_from_auto_apply: bool | None = None,
    may_change_reason_code: bool = False,
) -> Memo:
    """Edit what DOMAIN.md 2.4 allows on the memo's status; None leaves a field as it is."""
    locked = lock_memo(memo)
    before, after = {}, {}

    def change(field: str, value, label: str) -> None:
        old = getattr(locked, field)
        if value is not None and value != old:
            before[label], after[label] = _shown(old), _shown(value)
            setattr(locked, field, value)

    if locked.status == MemoStatus.CANCELED:
        # Only a change is refused: a form sending the current values back is not one.
        requested = {
            "memo_date": memo_date,
            "reason_code": reason_code,
            "auto_pay": auto_pay,
            "apply_to_invoice_on_post": apply_to_invoice_on_post,
            "exclude_from_auto_apply": exclude_from_auto_apply,
        }
        if any(v is not None and v != getattr(locked, f) for f, v in requested.items()):
            raise ValidationError(f"{locked.number} is Canceled: only its comments can change.")
    change("comments", comments, "Comments")
    if memo_date is not None and memo_date != locked.memo_date:
        if locked.source == MemoSource.BILL_RUN:
            raise ValidationError(
                {"memo_date": "A bill run's credit memo is dated its run's invoice date."}
            )
        if locked.status != MemoStatus.DRAFT:
            raise ValidationError({"memo_date": "Memo Date can only change on a draft."})
        if locked.invoice_id and memo_date < locked.invoice.invoice_date:
            raise ValidationError(
                {
                    "memo_date": "Memo Date cannot be before the invoice date "
                    f"{locked.invoice.invoice_date:%Y-%m-%d}."
                }
            )
        try:
            ensure_open_period(memo_date, field="Memo Date")
        except ValidationError as exc:
            raise ValidationError({"memo_date": exc.messages}) from exc
        change("memo_date", memo_date, "Memo Date")
    if reason_code is not None and reason_code != locked.reason_code:
        if not may_change_reason_code:
            raise ValidationError({"reason_code": "You may not change the reason code."})
        change("reason_code", resolve_reason_code(locked.memo_type, reason_code), "Reason Code")
    flags = {
        "auto_pay": (auto_pay, MemoType.DEBIT, "Auto-Pay"),
        "apply_to_invoice_on_post": (
            apply_to_invoice_on_post,
            MemoType.CREDIT,
            "Auto Apply: Apply to this invoice upon posting",
        ),
        "exclude_from_auto_apply": (
            exclude_from_auto_apply,
            MemoType.CREDIT,
            "Auto Apply: Exclude from auto apply rules",
        ),
    }
    for field, (value, memo_type, label) in flags.items():
        if value is None or value == getattr(locked, field):
            continue
        if locked.memo_type != memo_type or (
            field == "apply_to_invoice_on_post" and not locked.invoice_id
        ):
            raise ValidationError({field: f"{label} does not apply to this memo."})
        if is_fully_settled(locked):
            raise ValidationError({field: f"{label} cannot change once the memo is fully settled."})
        change(field, value, label)
    if after:
        recount = (
            "Reason Code" in after
            and locked.memo_type == MemoType.CREDIT
            and locked.status == MemoStatus.POSTED
        )
        if recount:
            # The insight's sums by reason code move with the code (memos.services.insight):
            # out under the old one (still in the row), in under the new one once saved.
            record_credit(Memo.objects.filter(pk=locked.pk), sign=-1)
        locked.save()
        if recount:
            record_credit(Memo.objects.filter(pk=locked.pk), sign=1)
        record_event(
            locked,
            MemoEvent.Kind.UPDATED,
            actor=actor,
            message="Edited " + ", ".join(after),
            before=before,
            after=after,
        )
        # DOMAIN.md 8: any edit to a submitted memo withdraws the submission.
        withdraw_submission(locked, actor=actor, why="edited " + ", ".join(after))
    return locked


@retry_when_busy
@transaction.atomic
def update_refund_comment(*, refund: Refund, actor, comment: str) -> Refund:
    """Edit a refund's comment (its only editable field), recorded on its memo's history."""
    # The memo first, as every settlement service locks it before what hangs off it.
    memo = lock_memo(refund.credit_memo)
    locked = Refund.objects.select_for_update().get(pk=refund.pk)
    comment = comment.replace("\r\n", "\n")
    if comment == locked.comment:
        return locked
    label = f"Refund {locked.number} Comment"
    before, locked.comment = locked.comment, comment
    locked.save(update_fields=["comment"])
    record_event(
        memo,
        MemoEvent.Kind.UPDATED,
        actor=actor,
        message=f"Edited refund {locked.number} Comment",
        before={label: before},
        after={label: comment},
    )
    return locked


@transaction.atomic
def set_transferred_to_accounting(
    *, memo: Memo, value: str, actor, may_override: bool = False
) -> Memo:
    """Change Transferred to Accounting on a Posted memo; leaving Yes needs the override."""
    if value not in TransferStatus.values:
        raise ValidationError(f"{value!r} is not a Transferred to Accounting value.")
    locked = lock_memo(memo)
    if locked.status != MemoStatus.POSTED:
        raise ValidationError(
            f"{locked.number} is {locked.get_status_display()}: Transferred to Accounting can only "
            "change on posted memos."
        )
    old = locked.transferred_to_accounting
    if old == value:
        return locked
    if old == TransferStatus.YES and not may_override:
        raise ValidationError(
            f"{locked.number} is already Transferred to Accounting: Yes; changing it needs the "
            "override permission."
        )
    locked.transferred_to_accounting = value
    locked.save(update_fields=["transferred_to_accounting", "updated_at"])
    record_event(
        locked,
        MemoEvent.Kind.TRANSFER_CHANGED,
        actor=actor,
        message="Transferred to Accounting: "
        f"{TransferStatus(old).label} → {TransferStatus(value).label}",
        before={"Transferred to Accounting": TransferStatus(old).label},
        after={"Transferred to Accounting": TransferStatus(value).label},
    )
    return locked
