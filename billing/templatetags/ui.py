"""Small template helpers for the shared components."""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.html import format_html

from billing.money import money_label

register = template.Library()

# Statuses shown as work under way: a spinner beside the text (UI.md: Processing blue, spinner).
RUNNING_STATUSES = {"processing", "post_in_progress", "cancel_in_progress"}


@register.simple_tag
def status_badge(status, label):
    """A status badge: one colour per meaning across the product (UI.md), the text always there.

    A tag rather than an include: list rows show one each, and an include per row cost about
    a sixth of a 50-row page's rendering. components/_status_badge.html calls this too.
    """
    status = str(status).lower()
    if status in RUNNING_STATUSES:
        return format_html(
            '<span class="badge status-badge status-{} status-running">'
            '<span class="spinner-border spinner-border-sm me-1" aria-hidden="true"></span>'
            "{}</span>",
            status,
            label,
        )
    return format_html('<span class="badge status-badge status-{}">{}</span>', status, label)


@register.filter
def get_field_label(form, name):
    field = form.fields.get(name)
    return field.label if field is not None and field.label else name.replace("_", " ").capitalize()


@register.filter
def range_inputs(bound_field):
    """The (name, value, label suffix, input type) of each input of a from/to range filter:
    dates for date ranges, numbers for amount ranges (the widget's own type)."""
    widget = bound_field.field.widget
    values = bound_field.value() or []
    if not isinstance(values, list | tuple):
        values = [values]
    labels = {"after": "from", "before": "to", "min": "from", "max": "to"}
    first = widget.widgets[0]
    input_type = widget.attrs.get("type") or first.attrs.get("type") or first.input_type
    return [
        (
            f"{bound_field.html_name}_{suffix}",
            values[i] if i < len(values) else "",
            labels[suffix],
            input_type,
        )
        for i, suffix in enumerate(widget.suffixes)
    ]


# History events store some values under field names ("effective_date") and some under the
# labels the page shows ("Memo Date"): both are shown as labels, money in the document's format.
HISTORY_LABELS = {
    "target": "Document",
    "credit_memo": "Credit Memo",
    "debit_memo": "Debit Memo",
    "refund": "Refund",
    "status": "Status",
    "amount": "Amount",
    "method": "Method",
    "effective_date": "Effective Date",
    "reversed": "Reversed",
    "items": "Items",
    "tax_status": "Tax Status",
}
# PostgreSQL's jsonb keeps keys in its own order (shortest first), not the order they were
# written in: the known ones are shown in this order, the others after them.
HISTORY_ORDER = {key: index for index, key in enumerate(HISTORY_LABELS)}
MONEY_LABELS = {"Amount", "Tax Amount", "Refund Amount", "Balance", "Unapplied Amount"}


def history_label(key: str) -> str:
    if key in HISTORY_LABELS:
        return HISTORY_LABELS[key]
    return key if key[:1].isupper() else key.replace("_", " ").title()


def history_value(value, label: str, currency) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if label in MONEY_LABELS and currency is not None:
        try:
            return money_label(Decimal(str(value)), currency)
        except InvalidOperation:
            return str(value)
    return str(value)


@register.filter
def history_changes(event, currency=None):
    """A history event's changes in words: (label, old value or None, new value), with money as
    "USD 2,750.00" in the document's currency and flags as Yes/No."""
    before = event.before or {}
    shown = []
    after = event.after or {}
    for key in sorted(after, key=lambda key: HISTORY_ORDER.get(key, len(HISTORY_ORDER))):
        new = after[key]
        label = history_label(key)
        old = before.get(key)
        shown.append(
            (
                label,
                None if key not in before else history_value(old, label, currency),
                history_value(new, label, currency),
            )
        )
    return shown


@register.filter
def user_name(user) -> str:
    """One display name for a user everywhere: the full name, else the username."""
    if user is None:
        return "system"
    return user.get_full_name() or user.get_username()


@register.filter
def get_value(mapping, key):
    """mapping[key] for dicts keyed by ids, in a template (empty when absent)."""
    return mapping.get(key, "") if hasattr(mapping, "get") else ""
