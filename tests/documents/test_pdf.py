"""Customer document PDFs (DOMAIN.md 7): what the customer reads, in the currency's format, on
every page."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pypdf import PdfReader

from billing.documents.context import render_document_pdf
from billing.documents.pdf import RefusedURL, local_url_fetcher, render_pdf
from billing.models import BillingSettings
from memos.models import MemoItem

from .helpers import item_rows, make_document, money, pdf_pages, tokens, totals

KINDS = ["credit_memo", "debit_memo", "invoice"]
TITLES = {"credit_memo": "Credit Memo", "debit_memo": "Debit Memo", "invoice": "Invoice"}
HEADER = ["Charge", "Description", "Service Period", "Quantity", "Unit Price", "Amount", "Tax"]
# A grouped figure with decimals: 1,234.50 or 1.250 (JPY documents must show none).
DECIMAL_FIGURE = re.compile(r"^\d{1,3}(,\d{3})*\.\d+$")


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 300])
@pytest.mark.parametrize("code", ["USD", "JPY", "KWD"])
@pytest.mark.parametrize("kind", KINDS)
def test_pdf_shows_number_customer_items_and_totals_in_the_currency_format(kind, code, count):
    document = make_document(kind, code, count)
    _, pdf = render_document_pdf(document)
    pages = pdf_pages(pdf)
    text = "\n".join(pages)
    words = tokens(text)

    assert document.number in words
    assert TITLES[kind] in text
    assert document.account.name in text
    assert document.account.bill_to_email in words
    assert "1 Harbour Street" in text
    rows = item_rows(code, count)
    for row in rows:
        assert money(row["amount_excl_tax"], code) in words, row["charge_name"]
        assert money(row["tax_amount"], code) in words, row["charge_name"]
        assert row["charge_name"] in text
    net, tax = totals(rows)
    for figure in (net, tax, net + tax):
        assert f"{code} {money(figure, code)}" in text
    if code == "JPY":
        assert not [w for w in words if DECIMAL_FIGURE.match(w)], "JPY shows no decimals"
    if code == "KWD":
        assert money(net + tax, code).split(".")[1].__len__() == 3
    assert "DRAFT" not in text  # posted
    assert f"Page 1 of {len(pages)}" in pages[0]
    if count == 300:
        assert len(pages) >= 3, "300 items span several pages"
        for number, page in enumerate(pages, start=1):
            assert f"Page {number} of {len(pages)}" in page
            if re.search(r"Service \d{3}", page):  # a page with item rows has the items' header
                for label in HEADER:
                    assert label in page, (number, label)
                assert f"Unit Price ({code})" in page


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_draft_documents_carry_a_draft_watermark(kind):
    draft = make_document(kind, "USD", 3, status="draft")
    text = "\n".join(pdf_pages(render_document_pdf(draft)[1]))
    assert "DRAFT" in text


@pytest.mark.django_db
def test_credit_memo_shows_related_invoice_reason_and_settled_amounts():
    memo = make_document("credit_memo", "USD", 2)
    invoice = make_document("invoice", "USD", 1, account=memo.account)
    memo.invoice = invoice
    memo.applied_amount = Decimal("100.00")
    memo.refund_amount = Decimal("50.00")
    memo.save()
    text = "\n".join(pdf_pages(render_document_pdf(memo)[1]))
    assert f"Related Invoice {invoice.number}" in text
    assert f"Reason Code {memo.reason_code.name}" in text
    assert "Applied USD 100.00" in text
    assert "Refunded USD 50.00" in text
    unapplied = memo.amount - Decimal("150")
    assert f"Unapplied USD {money(unapplied, 'USD')}" in text


@pytest.mark.django_db
def test_invoice_and_debit_memo_show_their_due_date():
    invoice = make_document("invoice", "USD", 1)
    text = "\n".join(pdf_pages(render_document_pdf(invoice)[1]))
    assert f"Due Date {invoice.due_date:%Y-%m-%d}" in text
    debit = make_document("debit_memo", "USD", 1)
    text = "\n".join(pdf_pages(render_document_pdf(debit)[1]))
    assert f"Due Date {debit.memo_date:%Y-%m-%d}" in text


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.mark.django_db
def test_seller_details_logo_and_footer_are_on_the_document(media_root):
    billing = BillingSettings.load()
    billing.seller_name = "Memodesk Demo GmbH"
    billing.seller_address = "Hauptstrasse 1\n10115 Berlin"
    billing.seller_tax_id = "DE123456789"
    billing.document_footer = "IBAN DE00 1234 5678 9012 3456 78 · Payment within 30 days"
    billing.seller_logo.save("logo.png", SimpleUploadedFile("logo.png", PNG), save=False)
    billing.save()
    memo = make_document("credit_memo", "USD", 60)
    pdf = render_document_pdf(memo)[1]
    pages = pdf_pages(pdf)
    text = "\n".join(pages)
    for shown in ("Memodesk Demo GmbH", "Hauptstrasse 1", "10115 Berlin", "Tax ID: DE123456789"):
        assert shown in text
    for page in pages:  # the footer is on every page
        assert "IBAN DE00 1234 5678 9012 3456 78" in page
    first = PdfReader(io.BytesIO(pdf)).pages[0]
    assert first.images, "the logo is embedded on page 1"


@pytest.mark.django_db
def test_a_missing_logo_file_does_not_stop_the_document(media_root):
    billing = BillingSettings.load()
    billing.seller_logo.name = "seller/gone.png"
    billing.save()
    memo = make_document("credit_memo", "USD", 1)
    assert memo.number in "\n".join(pdf_pages(render_document_pdf(memo)[1]))


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("logo.gif", b"GIF89a" + b"\x00" * 20, "must be a PNG or JPEG"),
        ("logo.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "must be a PNG or JPEG"),
        ("logo.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "not a readable PNG"),
        ("logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024), "at most 1 MB"),
    ],
)
def test_logo_upload_is_a_small_png_or_jpeg(name, content, error):
    from django.core.exceptions import ValidationError

    from billing.models.reference import validate_logo

    with pytest.raises(ValidationError, match=error):
        validate_logo(SimpleUploadedFile(name, content))
    validate_logo(SimpleUploadedFile("logo.png", PNG))  # a real PNG passes


def test_weasyprint_fetches_no_remote_url(settings, tmp_path):
    fetcher = local_url_fetcher()
    for url in ("http://127.0.0.1:9/logo.png", "https://example.com/x.css", "ftp://x/y"):
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    with pytest.raises(RefusedURL):
        fetcher.fetch(outside.as_uri())
    settings.MEDIA_ROOT = tmp_path
    assert fetcher.fetch(outside.as_uri()).read() == b"secret"


@pytest.mark.django_db
def test_a_template_asking_for_a_remote_image_renders_without_fetching_it(monkeypatch):
    """The fetcher is what WeasyPrint uses: a remote <img> is refused (and not fetched)."""
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("WeasyPrint tried the network")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", no_network)
    memo = make_document("credit_memo", "USD", 1)
    from billing.documents.context import memo_document, template_context

    context = template_context(memo_document(memo))
    context["logo"] = "http://127.0.0.1:9/logo.png"
    pdf = render_pdf("documents/credit_memo.html", context)
    assert memo.number in "\n".join(pdf_pages(pdf))


@pytest.mark.django_db
def test_items_are_read_in_a_fixed_number_of_queries(django_assert_max_num_queries):
    one = make_document("credit_memo", "USD", 1)
    many = make_document("credit_memo", "USD", 120)
    assert MemoItem.objects.filter(memo=many).count() == 120
    from billing.documents.context import memo_document, template_context

    with django_assert_max_num_queries(4) as one_queries:
        template_context(memo_document(one))
    with django_assert_max_num_queries(4) as many_queries:
        template_context(memo_document(many))
    assert len(one_queries) == len(many_queries)


@pytest.fixture
def no_pango(monkeypatch):
    """WeasyPrint as on a machine without Pango: importing it fails with OSError."""
    import builtins

    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name == "weasyprint" or name.startswith("weasyprint."):
            raise OSError("cannot load library 'libpango-1.0-0'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    # stylesheet() keeps what it built: start without it, so it imports again.
    from billing.documents import pdf

    pdf.stylesheet.cache_clear()
    yield
    pdf.stylesheet.cache_clear()


def test_without_pango_the_pdf_page_says_so_instead_of_a_500(operator_client, no_pango):
    memo = make_document("credit", "USD", 1)
    response = operator_client.get(f"/memos/{memo.number}/pdf/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == memo.get_absolute_url()
    text = response.content.decode()
    assert "PDFs cannot be made on this server" in text and "Pango" in text


def test_without_pango_the_api_answers_503_in_its_error_shape(operator, no_pango):
    from tests.api.conftest import token_client

    invoice = make_document("invoice", "USD", 1)
    response = token_client(operator).get(f"/api/v1/invoices/{invoice.number}/pdf/")
    assert response.status_code == 503
    assert "Pango" in response.json()["errors"]["__all__"][0]
