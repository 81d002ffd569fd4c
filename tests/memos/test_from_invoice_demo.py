"""Both create pages open without an error on every posted invoice of the demo data (issue 10,
must show 2): rows with nothing left, negative lines, partly credited and multi-currency invoices
included. "Without an error" covers what the page computes on load: its preview of the defaults."""

from __future__ import annotations

import re
from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice, InvoiceStatus
from memos.models import MemoType
from memos.services import InvoiceItemLine, create_memo_from_invoice
from memos.services.lifecycle import post_memo
from tests.memos.test_from_invoice_defaults import shown_errors


class DemoInvoicePagesTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        call_command("seed_demo", "--demo-users", stdout=StringIO())
        # As the operator did: credit one invoice's first item in full, so that one
        # invoice has a row with nothing left (the demo's own credits are partial).
        invoice = (
            Invoice.objects.filter(status=InvoiceStatus.POSTED, items__amount__gt=0)
            .order_by("number")
            .first()
        )
        item = invoice.items.filter(amount__gt=0).order_by("sort_order", "id").first()
        memo = create_memo_from_invoice(
            invoice=invoice,
            memo_type=MemoType.CREDIT,
            lines=[InvoiceItemLine(invoice_item=item, amount=item.amount_excl_tax)],
            actor=None,
            memo_date=max(invoice.invoice_date, timezone.localdate()),
        )
        post_memo(memo=memo, actor=None)

    def setUp(self):
        self.client.force_login(get_user_model().objects.get(username="operator"))

    def test_every_posted_invoice_opens_both_forms_without_an_error(self):
        invoices = list(Invoice.objects.filter(status=InvoiceStatus.POSTED).order_by("number"))
        self.assertGreater(len(invoices), 50)
        shapes = {"negative line": 0, "nothing left": 0}
        for invoice in invoices:
            for memo_type in ("credit", "debit"):
                url = reverse("memos:memo_create_from_invoice", args=[invoice.number])
                response = self.client.get(f"{url}?type={memo_type}")
                self.assertEqual(response.status_code, 200, (invoice.number, memo_type))
                html = response.content.decode()
                self.assertEqual(shown_errors(html), [], (invoice.number, memo_type))
                if memo_type == "credit":
                    shapes["nothing left"] += "Nothing left to credit" in html
                    shapes["negative line"] += bool(re.search(r'value="-\d', html))
        # The demo data has the shapes the issue names: the loop saw them.
        self.assertGreater(shapes["negative line"], 0)
        self.assertGreater(shapes["nothing left"], 0)
