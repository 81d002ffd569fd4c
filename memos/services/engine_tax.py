"""A memo's tax by the third-party engine (DOMAIN.md 2.6): calculated and committed under the
memo's own document reference, and voided there when the engine may hold it for a memo that
does not keep it. `Memo.tax_maybe_committed` tracks what the engine may hold."""

from __future__ import annotations

import logging
import uuid

from django.core.exceptions import ValidationError

from billing import tax_engine
from billing.models import TaxMode
from billing.money import MONEY_COLUMN, ZERO, check_fits, minor_unit, round_money
from memos.models import Memo, MemoItem, MemoType, TaxStatus

logger = logging.getLogger(__name__)

# The engine's names for our documents (billing/tax_engine.py's protocol).
ENGINE_DOCUMENT_TYPES = {MemoType.CREDIT: "credit_memo", MemoType.DEBIT: "debit_memo"}


def tax_with_engine(memo: Memo, items: list[MemoItem]) -> None:
    """Replace the built-in tax by the third-party engine's; on failure keep the memo savable
    as a Draft with Tax Status Error and the engine's reason (DOMAIN.md 2.6)."""
    memo.taxed_by_third_party = True
    memo.tax_reference = memo.tax_reference or uuid.uuid4().hex
    # Amounts read back from the database carry the storage precision (3 places): send them in
    # the currency's minor unit, as the protocol wants.
    typed = [
        (
            item,
            round_money(
                item.amount if item.tax_mode == TaxMode.INCLUSIVE else item.amount_excl_tax,
                memo.currency,
            ),
        )
        for item in items
    ]
    try:
        results = tax_engine.calculate(
            document_number=memo.tax_reference,
            document_type=ENGINE_DOCUMENT_TYPES[memo.memo_type],
            document_date=memo.memo_date,
            currency=memo.currency.code,
            account_number=memo.account.number,
            lines=[
                tax_engine.EngineLine(
                    key=str(item.sort_order),
                    amount=amount,
                    mode=item.tax_mode,
                    tax_code=item.tax_code.code if item.tax_code else None,
                    description=item.description or item.charge_name,
                )
                for item, amount in typed
            ],
        )
    except tax_engine.TaxEngineError as exc:
        for item, amount in typed:
            item.amount_excl_tax, item.tax_amount, item.amount = amount, ZERO, amount
        memo.tax_status, memo.tax_message = TaxStatus.ERROR, str(exc)
        if exc.answered:
            # The engine committed a document whose answer is refused (out of range, malformed):
            # void it now rather than leave a wrong document there until the memo is canceled.
            # One void clears the reference, an earlier commit of it included.
            memo.tax_maybe_committed = not void_quietly(memo)
        elif exc.may_have_committed:
            # No answer in time: the document may be committed (or may still be, once the
            # engine gets to it). Voiding now could come before a late commit; canceling the
            # memo voids it, and recalculating commits it again under the same reference.
            memo.tax_maybe_committed = True
        return
    total = sum((r.amount_excl_tax + r.tax_amount for r in results), ZERO)
    try:
        check_fits(total, MONEY_COLUMN, places=minor_unit(memo.currency), field="the memo total")
    except ValidationError as exc:
        # Each line fits, their sum does not: refused like any invalid answer, and the document
        # the engine committed is voided there (no memo will carry that tax).
        memo.tax_maybe_committed = not void_quietly(memo)
        for item, amount in typed:
            item.amount_excl_tax, item.tax_amount, item.amount = amount, ZERO, amount
        memo.tax_status = TaxStatus.ERROR
        memo.tax_message = (
            "The tax engine gave an invalid answer: with its tax, "
            + " ".join(exc.messages).rstrip(".")
            + "."
        )
        return
    for (item, _), result in zip(typed, results, strict=True):
        item.amount_excl_tax, item.tax_amount = result.amount_excl_tax, result.tax_amount
        item.amount = result.amount_excl_tax + result.tax_amount
    memo.tax_status, memo.tax_message = TaxStatus.COMPLETE, ""
    memo.tax_maybe_committed = True


def void_quietly(memo: Memo) -> bool:
    """Best effort: void what the engine may hold under the memo's reference; True if voided.
    A failure is logged with the reference, so it can be voided at the engine by hand."""
    try:
        tax_engine.void(document_number=memo.tax_reference)
    except tax_engine.TaxEngineError as exc:
        logger.warning(
            "Tax document %s (memo %s) may be left committed at the engine: %s",
            memo.tax_reference,
            memo.number or "not saved",
            exc,
        )
        return False
    return True
