"""Marking many memos Transferred to Accounting at once (DOMAIN.md 2.5): the memo list's bulk
action and the API's.

Decision: per memo, not all or nothing. A reviewer who ticks 50 rows of which 2 are already at
Yes (or were unposted meanwhile) wants the other 48 marked, and to be told exactly which 2 were
skipped and why. The memos are locked together, in id order (the order every service locks
memos in), inside one transaction, and each memo's change is a savepoint of it: a refusal undoes
only that memo, an unexpected error undoes them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.busy import retry_when_busy
from billing.converters import is_document_number
from memos.models import Memo, MemoStatus, TransferStatus
from memos.services import lifecycle

# A page shows 50 rows; the cap keeps one request (and the locks it holds) bounded.
BULK_TRANSFER_LIMIT = 500
# What the list marks in bulk: what was handed to the ledger is Processing, then Yes.
BULK_TRANSFER_VALUES = (TransferStatus.PROCESSING, TransferStatus.YES)


@dataclass
class BulkTransferOutcome:
    """Which of the selected memos changed, and why each of the others did not."""

    changed: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    needs_override: list[str] = field(default_factory=list)
    not_posted: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # any other refusal, in the service's words


@retry_when_busy
def mark_transferred(
    *, numbers: list[str], value: str, actor, may_override: bool
) -> BulkTransferOutcome:
    """Set Transferred to Accounting on each memo through the service; collect the refusals."""
    outcome = BulkTransferOutcome()
    # Only what could be a memo number is looked up (a NUL would be a query error).
    lookup = [number for number in numbers if is_document_number(number)]
    with transaction.atomic():
        memos = list(Memo.objects.select_for_update().filter(number__in=lookup).order_by("id"))
        found = {memo.number for memo in memos}
        outcome.not_found = [shown(number) for number in numbers if number not in found]
        for memo in memos:
            # Read under the lock: the reason reported is the one the service saw.
            before_status, before_value = memo.status, memo.transferred_to_accounting
            try:
                lifecycle.set_transferred_to_accounting(
                    memo=memo, value=value, actor=actor, may_override=may_override
                )
            except ValidationError as exc:
                if before_status != MemoStatus.POSTED:
                    outcome.not_posted.append(f"{memo.number} ({memo.get_status_display()})")
                elif before_value == TransferStatus.YES and not may_override:
                    outcome.needs_override.append(memo.number)
                else:
                    outcome.refused.append(" ".join(exc.messages))
            else:
                target = outcome.already if before_value == value else outcome.changed
                target.append(memo.number)
    return outcome


def shown(number: str) -> str:
    """A typed number as a message can show it: control characters escaped ("\\x00")."""
    if is_document_number(number):
        return number
    text = "".join(
        ch.encode("unicode_escape").decode("ascii") if not ch.isprintable() else ch
        for ch in number[:40]
    )
    return text + ("…" if len(number) > 40 else "")
