"""Accounting periods (DOMAIN.md section 1): create, change, close, reopen and delete them.

Every write needs the "configure settings" permission, locks the period row it changes, checks
the rules and records an AccountingPeriodEvent in the same transaction:
- periods never overlap (see `_save` for how that holds under concurrency);
- a Closed period's dates never change and it is never deleted, so a document date refused
  in it stays refused (billing.services.ensure_open_period);
- closing and reopening need a reason;
- a period a document is dated in cannot be deleted. The documents are registered by the apps
  that own them (`register_document_date`, from their AppConfig.ready), because billing may not
  import memos or payments.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction

from billing import permissions
from billing.models import AccountingPeriod, AccountingPeriodEvent, PeriodStatus

Kind = AccountingPeriodEvent.Kind


@dataclass(frozen=True)
class DocumentDate:
    """A document whose date must not fall in a closed period (and pins its period)."""

    model: type[models.Model]
    field: str
    label: str  # how a message names one: "invoice", "memo", "refund"


DOCUMENT_DATES: list[DocumentDate] = []


def register_document_date(model: type[models.Model], field: str, label: str) -> None:
    """Declare a dated document (it must have a `number`); idempotent."""
    entry = DocumentDate(model, field, label)
    if entry not in DOCUMENT_DATES:
        DOCUMENT_DATES.append(entry)


def _require_configure(actor, verb: str) -> None:
    if actor is None or not actor.has_perm(permissions.CONFIGURE_BILLING):
        raise PermissionDenied(
            f"You need the “configure settings” permission to {verb} an accounting period."
        )


def _lock(period: AccountingPeriod) -> AccountingPeriod:
    return AccountingPeriod.objects.select_for_update().get(pk=period.pk)


def _shown(period: AccountingPeriod) -> dict[str, str]:
    return {
        "Name": period.name,
        "Start": period.start_date.isoformat(),
        "End": period.end_date.isoformat(),
    }


def _record(period: AccountingPeriod, kind: str, actor, *, reason="", before=None, after=None):
    return AccountingPeriodEvent.objects.create(
        period=period if kind != Kind.DELETED else None,
        period_name=period.name,
        kind=kind,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        reason=reason,
        before=before or {},
        after=after or {},
    )


def _overlap_message(other: AccountingPeriod) -> str:
    return (
        f"These dates overlap the accounting period {other.name} "
        f"({other.start_date:%Y-%m-%d} to {other.end_date:%Y-%m-%d}); "
        "accounting periods never overlap."
    )


def check_period(
    *, name: str, start_date: dt.date, end_date: dt.date, period: AccountingPeriod | None = None
) -> None:
    """Refuse a name or dates no period may have (besides `period` itself).

    The admin's form calls it to show the errors beside the fields; the services call it again
    inside their transaction.
    """
    errors: dict[str, list[str]] = {}
    others = AccountingPeriod.objects.all()
    if period is not None:
        others = others.exclude(pk=period.pk)
    if not name.strip():
        errors["name"] = ["Give the period a name."]
    elif others.filter(name=name.strip()).exists():
        errors["name"] = [f"There is already an accounting period {name.strip()}."]
    if end_date < start_date:
        errors["end_date"] = ["The end date cannot be before the start date."]
    else:
        # Both ends are inclusive: a period ending on the 31st and one starting then overlap.
        other = (
            others.filter(start_date__lte=end_date, end_date__gte=start_date)
            .order_by("start_date")
            .first()
        )
        if other is not None:
            errors[NON_FIELD_ERRORS] = [_overlap_message(other)]
    if errors:
        raise ValidationError(errors)


def _save(period: AccountingPeriod, **kwargs) -> None:
    """Save after check_period; a concurrent write the check could not see yet ends here.

    On PostgreSQL two transactions can both pass the check (neither sees the other's uncommitted
    row); the exclusion constraint of migration 0005 then makes the second wait for the first and
    fail, and the unique name does the same for names. Checked again after the failure, the
    first is committed and visible, so the refusal names it. On SQLite writers take turns
    (IMMEDIATE transactions), so the check already saw everything.
    """
    try:
        with transaction.atomic():
            period.save(**kwargs)
    except IntegrityError:
        check_period(
            name=period.name,
            start_date=period.start_date,
            end_date=period.end_date,
            period=period if period.pk else None,
        )
        raise


@transaction.atomic
def create_accounting_period(
    *, actor, name: str, start_date: dt.date, end_date: dt.date
) -> AccountingPeriod:
    """Create an Open period; closing it is its own action."""
    _require_configure(actor, "create")
    check_period(name=name, start_date=start_date, end_date=end_date)
    period = AccountingPeriod(
        name=name.strip(), start_date=start_date, end_date=end_date, status=PeriodStatus.OPEN
    )
    _save(period)
    _record(period, Kind.CREATED, actor, after=_shown(period))
    return period


@transaction.atomic
def update_accounting_period(
    *,
    period: AccountingPeriod,
    actor,
    name: str | None = None,
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
) -> AccountingPeriod:
    """Rename a period or move an Open one's dates; None leaves a field as it is."""
    _require_configure(actor, "change")
    locked = _lock(period)
    new = {
        "name": locked.name if name is None else name.strip(),
        "start_date": locked.start_date if start_date is None else start_date,
        "end_date": locked.end_date if end_date is None else end_date,
    }
    dates_move = (new["start_date"], new["end_date"]) != (locked.start_date, locked.end_date)
    if dates_move and locked.status == PeriodStatus.CLOSED:
        # Moving them would let a date out of the closed period and a document into it.
        raise ValidationError(
            f"{locked.name} is Closed: its dates cannot change. Reopen it first (with a reason)."
        )
    check_period(period=locked, **new)
    before = _shown(locked)
    for field, value in new.items():
        setattr(locked, field, value)
    after = _shown(locked)
    changed = [label for label in after if after[label] != before[label]]
    if changed:
        _save(locked, update_fields=list(new))
        _record(
            locked,
            Kind.UPDATED,
            actor,
            before={label: before[label] for label in changed},
            after={label: after[label] for label in changed},
        )
    return locked


def _set_status(period, *, actor, reason: str, status: str, verb: str, kind: str):
    _require_configure(actor, verb)
    locked = _lock(period)
    reason = reason.strip()
    if not reason:
        done = Kind(kind).label.lower()
        raise ValidationError({"reason": [f"Say why {locked.name} is being {done}."]})
    if locked.status == status:
        raise ValidationError(f"{locked.name} is already {PeriodStatus(status).label}.")
    old = PeriodStatus(locked.status).label
    locked.status = status
    locked.save(update_fields=["status"])
    _record(
        locked,
        kind,
        actor,
        reason=reason,
        before={"Status": old},
        after={"Status": PeriodStatus(status).label},
    )
    return locked


@transaction.atomic
def close_accounting_period(*, period: AccountingPeriod, actor, reason: str) -> AccountingPeriod:
    """Close a period: no document date may fall in it from now on."""
    return _set_status(
        period,
        actor=actor,
        reason=reason,
        status=PeriodStatus.CLOSED,
        verb="close",
        kind=Kind.CLOSED,
    )


@transaction.atomic
def reopen_accounting_period(*, period: AccountingPeriod, actor, reason: str) -> AccountingPeriod:
    """Reopen a Closed period, so documents can be dated in it again."""
    return _set_status(
        period,
        actor=actor,
        reason=reason,
        status=PeriodStatus.OPEN,
        verb="reopen",
        kind=Kind.REOPENED,
    )


def deletion_refusal(period: AccountingPeriod) -> str | None:
    """Why the period cannot be deleted, in words, or None if it can."""
    if period.status == PeriodStatus.CLOSED:
        return f"{period.name} is Closed: a closed accounting period cannot be deleted."
    for document in DOCUMENT_DATES:
        field = document.field
        found = (
            document.model._default_manager.filter(
                **{f"{field}__gte": period.start_date, f"{field}__lte": period.end_date}
            )
            .order_by(field, "pk")
            .values_list("number", field)
            .first()
        )
        if found is not None:
            number, day = found
            return (
                f"{period.name} cannot be deleted: {document.label} {number} is dated "
                f"{day:%Y-%m-%d} in it."
            )
    return None


@transaction.atomic
def delete_accounting_period(*, period: AccountingPeriod, actor) -> str:
    """Delete an Open period no document is dated in. Returns its name; its history stays."""
    _require_configure(actor, "delete")
    locked = _lock(period)
    refusal = deletion_refusal(locked)
    if refusal:
        raise ValidationError(refusal)
    _record(locked, Kind.DELETED, actor, before=_shown(locked))
    name = locked.name
    locked.delete()
    return name
