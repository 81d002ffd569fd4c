"""Seed what every installation needs: currencies, numbering series, the settings row."""

from django.db import migrations

CURRENCIES = [
    ("USD", "US Dollar", 2),
    ("EUR", "Euro", 2),
    ("GBP", "Pound Sterling", 2),
    ("CAD", "Canadian Dollar", 2),
    ("AUD", "Australian Dollar", 2),
    ("CHF", "Swiss Franc", 2),
    ("JPY", "Yen", 0),
    ("KRW", "Won", 0),
    ("KWD", "Kuwaiti Dinar", 3),
    ("BHD", "Bahraini Dinar", 3),
]

SERIES = [
    ("invoice", "INV"),
    ("credit_memo", "CM"),
    ("debit_memo", "DM"),
    ("bill_run", "BR-"),
    ("refund", "RF"),
    ("account", "A"),
    ("subscription", "S"),
]


def seed(apps, schema_editor):
    Currency = apps.get_model("billing", "Currency")
    NumberSeries = apps.get_model("billing", "NumberSeries")
    BillingSettings = apps.get_model("billing", "BillingSettings")
    for code, name, minor_unit in CURRENCIES:
        Currency.objects.update_or_create(code=code, defaults={"name": name, "minor_unit": minor_unit})
    for key, prefix in SERIES:
        NumberSeries.objects.get_or_create(key=key, defaults={"prefix": prefix})
    BillingSettings.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
