from django import forms

from api.models import ApiToken


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text="What will use the token, e.g. “Ledger export”.",
    )
