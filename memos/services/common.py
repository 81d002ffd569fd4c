"""Helpers every memo service shares: history events, reason codes, settings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from memos.models import Memo, MemoEvent, MemoType, ReasonCode, ReasonCodeType

REASON_CODE_TYPE = {
    MemoType.CREDIT: ReasonCodeType.CREDIT_MEMO,
    MemoType.DEBIT: ReasonCodeType.DEBIT_MEMO,
}


def record_event(
    memo: Memo,
    kind: str,
    *,
    actor=None,
    message: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> MemoEvent:
    """Write one history event; call inside the transaction that made the change."""
    event = history_event(memo, kind, actor=actor, message=message, before=before, after=after)
    event.save(force_insert=True)
    return event


def history_event(
    memo: Memo,
    kind: str,
    *,
    actor=None,
    message: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> MemoEvent:
    """One history event, not yet written: for a service that writes many with bulk_create
    (inside the transaction that made the change, as record_event)."""
    return MemoEvent(
        memo=memo,
        kind=kind,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        message=message[:500],
        before=_jsonable(before or {}),
        after=_jsonable(after or {}),
    )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (str(v) if isinstance(v, Decimal) or hasattr(v, "isoformat") else v)
        for k, v in values.items()
    }


def resolve_reason_code(
    memo_type: str, reason_code: ReasonCode | None, *, code_type: str | None = None
) -> ReasonCode:
    """The given reason code checked against the memo type, or the type's default."""
    code_type = code_type or REASON_CODE_TYPE[memo_type]
    if reason_code is None:
        default = ReasonCode.objects.filter(
            code_type=code_type, is_default=True, active=True
        ).first()
        if default is None:
            raise ValidationError(
                {"reason_code": "No default reason code is configured; choose one."}
            )
        return default
    if reason_code.code_type != code_type:
        label = ReasonCodeType(code_type).label
        raise ValidationError({"reason_code": f"{reason_code.name} is not a {label} reason code."})
    if not reason_code.active:
        raise ValidationError(
            {"reason_code": f"The reason code {reason_code.name} is deactivated."}
        )
    return reason_code
