"""What the list rows render with, cheaply: document links without a reverse() per row, and the
status badge as a tag (billing.converters.document_url, billing.templatetags.ui.status_badge)."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, reverse, set_script_prefix

from billing.converters import document_url

NAMES = [
    "memos:memo_detail",
    "billing:account_detail",
    "billing:invoice_detail",
    "billing:bill_run_detail",
    "memos:memo_transfer",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("number", ["CM00000042", "A00000001", "x", "BR-2026_01", "9" * 40])
def test_document_url_is_reverse(name, number):
    assert document_url(name, number) == reverse(name, args=[number])


@pytest.mark.parametrize("prefix", ["/", "/billing/"])
def test_document_url_follows_the_script_prefix(prefix):
    set_script_prefix(prefix)
    try:
        assert document_url("memos:memo_detail", "CM1") == reverse(
            "memos:memo_detail", args=["CM1"]
        )
        assert document_url("memos:memo_detail", "CM1").startswith(prefix)
    finally:
        set_script_prefix("/")


@pytest.mark.parametrize("number", ["", "CM 1", "CM/1", "a" * 41, "CM\x001", "é"])
def test_a_value_that_is_no_document_number_is_refused_as_reverse_does(number):
    with pytest.raises(NoReverseMatch):
        document_url("memos:memo_detail", number)


def test_a_url_without_one_number_is_refused():
    with pytest.raises(NoReverseMatch):
        document_url("memos:memo_list", "CM1")


def render(text: str, **context) -> str:
    return Template(text).render(Context(context))


@pytest.mark.parametrize(
    ("status", "label", "html"),
    [
        ("posted", "Posted", '<span class="badge status-badge status-posted">Posted</span>'),
        ("Draft", "Draft", '<span class="badge status-badge status-draft">Draft</span>'),
        (
            "processing",
            "Processing",
            '<span class="badge status-badge status-processing status-running">'
            '<span class="spinner-border spinner-border-sm me-1" aria-hidden="true"></span>'
            "Processing</span>",
        ),
        ("x<y", "<b>", '<span class="badge status-badge status-x&lt;y">&lt;b&gt;</span>'),
    ],
)
def test_the_status_badge_tag_and_its_component_agree(status, label, html):
    assert render("{% status_badge s l %}", s=status, l=label) == html
    component = '{% include "components/_status_badge.html" with status=s label=l %}'
    assert render(component, s=status, l=label).strip() == html


def test_no_filter_placeholder_can_be_mistaken_for_a_value():
    """A placeholder like "CM00000001" reads as a number already typed in (issue 10, Lists)."""
    from billing.filters import AccountFilterSet, BillRunFilterSet, InvoiceFilterSet
    from memos.filters import MemoFilterSet

    seen = 0
    for filterset in (AccountFilterSet, InvoiceFilterSet, MemoFilterSet, BillRunFilterSet):
        for name, field in filterset().form.fields.items():
            widgets = getattr(field.widget, "widgets", [field.widget])
            for widget in widgets:
                placeholder = widget.attrs.get("placeholder")
                if placeholder:
                    seen += 1
                    assert not any(ch.isdigit() for ch in placeholder), (name, placeholder)
    assert seen >= 5
