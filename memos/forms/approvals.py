"""The approver's forms (DOMAIN.md 8): the reason a memo is rejected, a note on an approval."""

from __future__ import annotations

from django import forms

from memos.services.approvals import REASON_MAX_LENGTH


class RejectMemoForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown on the memo's history; the memo goes back to plain Draft.",
        error_messages={"required": "Say why the memo is rejected."},
    )


class ApproveMemoForm(forms.Form):
    comment = forms.CharField(
        label="Comment (optional)",
        required=False,
        max_length=REASON_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
