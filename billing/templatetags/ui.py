"""Small template helpers for the shared components."""

from django import template

register = template.Library()


@register.filter
def get_field_label(form, name):
    field = form.fields.get(name)
    return field.label if field is not None and field.label else name.replace("_", " ").capitalize()
