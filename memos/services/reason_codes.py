"""Reason codes (DOMAIN.md 2.8): configured per type, one default per type, deactivated rather
than deleted, at most 300. Every write needs the "configure settings" permission.

Making a code the default takes the default from the type's old one in the same transaction, so
a type always has exactly one; the type's rows are locked first, so two admins switching the
default at once take turns instead of tripping over the one-default constraint.
"""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import transaction

from billing import permissions
from billing.models import BillingSettings
from memos.models import ReasonCode, ReasonCodeType


def _require_configure(actor) -> None:
    if actor is None or not actor.has_perm(permissions.CONFIGURE_BILLING):
        raise PermissionDenied(
            "You need the “configure settings” permission to change reason codes."
        )


def check_reason_code(
    *,
    code_type: str,
    name: str,
    is_default: bool,
    active: bool,
    reason_code: ReasonCode | None = None,
) -> None:
    """Refuse what no reason code may be, in words (the admin's form shows these beside the
    fields; the services check again under their locks)."""
    errors: dict[str, list[str]] = {}
    type_label = ReasonCodeType(code_type).label
    others = ReasonCode.objects.filter(code_type=code_type)
    if reason_code is not None:
        others = others.exclude(pk=reason_code.pk)
    name = name.strip()
    if not name:
        errors["name"] = ["Give the reason code a name."]
    elif others.filter(name=name).exists():
        errors["name"] = [f"There is already a {type_label} reason code named {name}."]
    was_default = reason_code is not None and reason_code.is_default
    if was_default and not active:
        errors["active"] = [
            f"{reason_code.name} is the default {type_label} reason code: make another code the "
            "default before deactivating it."
        ]
    elif was_default and not is_default:
        errors["is_default"] = [
            f"{reason_code.name} is the default {type_label} reason code: make another code the "
            "default instead."
        ]
    elif is_default and not active:
        errors["active"] = ["A default reason code must be active."]
    if reason_code is None and ReasonCode.objects.count() >= BillingSettings.max_reason_codes:
        errors[NON_FIELD_ERRORS] = [
            f"There are already {BillingSettings.max_reason_codes} reason codes, the most there "
            "can be: deactivate one instead."
        ]
    if errors:
        raise ValidationError(errors)


def _drop_old_default(code_type: str) -> None:
    """Before a code becomes the type's default (the constraint allows one at a time)."""
    ReasonCode.objects.filter(code_type=code_type, is_default=True).update(is_default=False)


@transaction.atomic
def create_reason_code(
    *, actor, code_type: str, name: str, is_default: bool = False, active: bool = True
) -> ReasonCode:
    """Add a reason code; as the default, it takes the default from the type's old one."""
    _require_configure(actor)
    # Every row: the count of all codes is capped, and the type's default may move.
    list(ReasonCode.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
    check_reason_code(code_type=code_type, name=name, is_default=is_default, active=active)
    if is_default:
        _drop_old_default(code_type)
    return ReasonCode.objects.create(
        code_type=code_type, name=name.strip(), is_default=is_default, active=active
    )


@transaction.atomic
def update_reason_code(
    *,
    reason_code: ReasonCode,
    actor,
    name: str | None = None,
    is_default: bool | None = None,
    active: bool | None = None,
) -> ReasonCode:
    """Rename, (de)activate or make default a code; None leaves a field as it is. Its type never
    changes: memos and refunds point at it as a code of that type."""
    _require_configure(actor)
    code_type = reason_code.code_type
    rows = ReasonCode.objects.select_for_update().filter(code_type=code_type).order_by("pk")
    locked = {code.pk: code for code in rows}[reason_code.pk]
    new = {
        "name": locked.name if name is None else name.strip(),
        "is_default": locked.is_default if is_default is None else is_default,
        "active": locked.active if active is None else active,
    }
    check_reason_code(code_type=code_type, reason_code=locked, **new)
    if new["is_default"] and not locked.is_default:
        _drop_old_default(code_type)
    for field, value in new.items():
        setattr(locked, field, value)
    locked.save(update_fields=list(new))
    return locked
