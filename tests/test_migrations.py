"""The models and the migrations agree, and the migrations seed what every installation needs."""

from io import StringIO

import pytest
from django.core.management import call_command

from billing.models import BillingSettings, Currency, NumberSeries
from memos.models import ReasonCode, ReasonCodeType


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db
def test_reference_data_is_seeded():
    assert {
        c.code: c.minor_unit for c in Currency.objects.filter(code__in=["USD", "JPY", "KWD"])
    } == {
        "USD": 2,
        "JPY": 0,
        "KWD": 3,
    }
    prefixes = dict(NumberSeries.objects.values_list("key", "prefix"))
    assert prefixes["invoice"] == "INV"
    assert prefixes["credit_memo"] == "CM"
    assert prefixes["debit_memo"] == "DM"
    assert prefixes["bill_run"] == "BR-"
    assert len(set(prefixes.values())) == len(prefixes), "prefixes are never shared"
    assert BillingSettings.load().pk == 1


@pytest.mark.django_db
def test_reason_codes_are_seeded_with_one_default_per_type():
    defaults = dict(ReasonCode.objects.filter(is_default=True).values_list("code_type", "name"))
    assert defaults == {
        ReasonCodeType.CREDIT_MEMO: "Correcting Invoice Error",
        ReasonCodeType.DEBIT_MEMO: "Correcting Invoice Error",
        ReasonCodeType.REFUND: "Standard Refund",
    }
    assert ReasonCode.objects.filter(code_type=ReasonCodeType.CREDIT_MEMO).count() == 8
    assert ReasonCode.objects.filter(code_type=ReasonCodeType.DEBIT_MEMO).count() == 5
    assert ReasonCode.objects.filter(code_type=ReasonCodeType.REFUND).count() == 4
