"""`manage.py benchmark_documents [--items 300] [--runs 10] [--pdf PATH]`: how long one customer
document PDF takes to render (DOMAIN.md 7), median and slowest of --runs renders after a warm-up.

It builds a posted USD credit memo of --items items (with seller details and a logo) inside a
transaction it rolls back, so the configured database is left as it was; --pdf keeps the last
PDF (render page 1 with `pdftoppm -png -r 80 -f 1 -l 1 PATH page` to look at it).
"""

from __future__ import annotations

import statistics
import struct
import time
import zlib
from decimal import Decimal
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

from billing.documents.context import render_document_pdf
from billing.factories import AccountFactory, ChargeFactory, currency
from billing.models import BillingSettings
from billing.money import round_money


def sample_logo() -> bytes:
    """A 240x60 PNG: a blue band with a lighter square (no image library needed)."""
    width, height = 240, 60
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            inside = 10 <= x < 50 and 10 <= y < 50
            row += bytes((120, 180, 255) if inside else (13, 71, 161))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


class Command(BaseCommand):
    help = "Time the render of one customer document PDF (median of --runs)."

    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, default=300)
        parser.add_argument("--runs", type=int, default=10)
        parser.add_argument("--pdf", type=Path, help="write the last PDF here")

    def handle(self, *args, items: int, runs: int, pdf: Path | None, **options):
        import tempfile

        from memos.factories import MemoFactory
        from memos.models import MemoItem, MemoStatus

        with (
            tempfile.TemporaryDirectory() as media,
            override_settings(MEDIA_ROOT=media),
            transaction.atomic(),
        ):
            memo = self.build(items, MemoFactory, MemoItem, MemoStatus)
            render_document_pdf(memo)  # warm-up: fonts, templates, the stylesheet
            seconds = []
            for _ in range(runs):
                started = time.perf_counter()
                _doc, content = render_document_pdf(memo)
                seconds.append(time.perf_counter() - started)
            transaction.set_rollback(True)
        if pdf:
            pdf.write_bytes(content)
        self.stdout.write(
            f"{items}-item credit memo PDF ({len(content):,} bytes): median "
            f"{statistics.median(seconds):.3f} s, slowest {max(seconds):.3f} s of {runs} renders"
        )

    def build(self, items, MemoFactory, MemoItem, MemoStatus):
        settings_row = BillingSettings.load()
        settings_row.seller_name = "Memodesk Demo Ltd"
        settings_row.seller_address = "1 Billing Way\nSuite 200\nSpringfield, IL 62701\nUSA"
        settings_row.seller_tax_id = "US-EIN 12-3456789"
        settings_row.document_footer = (
            "Memodesk Demo Ltd · Bank: First Example Bank · IBAN US00 0000 1111 2222 3333\n"
            "Questions about this document? billing@memodesk.example · +1 555 0100"
        )
        settings_row.seller_logo.save("logo.png", ContentFile(sample_logo()), save=False)
        settings_row.save()
        account = AccountFactory(
            currency=currency("USD"),
            name="Globex Corporation",
            bill_to_name="Globex Accounts Payable",
            bill_to_email="ap@globex.example",
            bill_to_address="500 Market Street\nFloor 12\nSan Francisco, CA 94105",
        )
        charge = ChargeFactory(name="Platform subscription")
        rows = []
        for i in range(items):
            net = round_money(Decimal("1000.25") + i * Decimal("1.01"), "USD")
            tax = round_money(net * Decimal("0.0825"), "USD")
            rows.append(
                MemoItem(
                    charge=charge,
                    charge_name=f"Platform seat {i + 1:03d}",
                    description=f"Credit for seat {i + 1}, November outage",
                    service_start="2026-11-01",
                    service_end="2026-11-30",
                    sort_order=i,
                    quantity=Decimal("1"),
                    unit_price=net,
                    amount_excl_tax=net,
                    tax_amount=tax,
                    amount=net + tax,
                )
            )
        net = sum(r.amount_excl_tax for r in rows)
        tax = sum(r.tax_amount for r in rows)
        memo = MemoFactory(
            account=account, status=MemoStatus.POSTED, amount_excl_tax=net, tax_amount=tax
        )
        for row in rows:
            row.memo = memo
        MemoItem.objects.bulk_create(rows)
        return memo
