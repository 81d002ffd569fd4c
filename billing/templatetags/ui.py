"""Small template helpers for the shared components."""

from django import template
from django.utils.html import format_html

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


@register.filter
def changes(after, before):
    """(field, old value or None, new value) of a history event. A filter, because in a template
    `event.after.items` would read the key "items" of the dict instead of its items."""
    before = before or {}
    return [(key, before.get(key), value) for key, value in (after or {}).items()]


@register.filter
def get_value(mapping, key):
    """mapping[key] for dicts keyed by ids, in a template (empty when absent)."""
    return mapping.get(key, "") if hasattr(mapping, "get") else ""
