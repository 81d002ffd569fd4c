"""The "Invoice/Credit Memo generation rule" (DOMAIN.md section 4): which of an account's due
lines go on an invoice and which on a credit memo. Decision: the sign test is on amounts
including tax, so no generated document ever has a negative total."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from billing.bill_runs.rating import DueLine
from billing.models import GenerationRule
from billing.money import ZERO


@dataclass
class AccountDocuments:
    """What one account gets from a run. Credit memo lines are the charges inverted: a -10
    charge is a 10 credit, and a +50 charge on a net-negative credit memo is a -50 line."""

    invoice_lines: list[DueLine] = field(default_factory=list)
    credit_lines: list[DueLine] = field(default_factory=list)
    coupled: bool = False  # rules 3 and 4: the invoice and credit memo post and cancel together

    @property
    def invoice_total(self) -> Decimal:
        return sum((line.amount for line in self.invoice_lines), ZERO)

    @property
    def credit_total(self) -> Decimal:
        return -sum((line.amount for line in self.credit_lines), ZERO)


def split_documents(lines: list[DueLine], rule: str) -> AccountDocuments:
    if not lines:
        return AccountDocuments()
    total = sum((line.amount for line in lines), ZERO)
    if rule == GenerationRule.NET_NEGATIVE_UNGROUPED:
        if total >= 0:
            return AccountDocuments(invoice_lines=lines)
        return AccountDocuments(credit_lines=lines)
    if rule == GenerationRule.NET_NEGATIVE_GROUPED:
        if total >= 0:
            return AccountDocuments(invoice_lines=lines)
        groups: dict[int, list[DueLine]] = {}
        for line in lines:
            groups.setdefault(line.sub_charge.pk, []).append(line)
        documents = AccountDocuments()
        for group in groups.values():
            if sum((line.amount for line in group), ZERO) >= 0:
                documents.invoice_lines += group
            else:
                documents.credit_lines += group
        return documents
    if rule in (GenerationRule.NEGATIVE_CHARGES, GenerationRule.NEGATIVE_AND_ZERO_CHARGES):
        zero_credits_too = rule == GenerationRule.NEGATIVE_AND_ZERO_CHARGES
        documents = AccountDocuments()
        for line in lines:
            on_credit_memo = line.amount < 0 or (
                zero_credits_too and line.amount == 0 and line.is_credit
            )
            (documents.credit_lines if on_credit_memo else documents.invoice_lines).append(line)
        documents.coupled = bool(documents.invoice_lines and documents.credit_lines)
        return documents
    raise ValueError(f"Unknown generation rule {rule!r}")
