"""Indexes for the lists' "Account" filter and the account search: the number in any case
(declared on the model), and the name's "contains" as a trigram index (PostgreSQL only)."""

import django.db.models.functions.text
from django.db import migrations, models

# A GIN index on upper(name) serves Django's icontains there (UPPER(name::text) LIKE UPPER(%s)).
# SQLite has neither GIN nor pg_trgm, so this is not declared on the model and is skipped there.
# pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it; where it
# is already installed, IF NOT EXISTS asks for no privilege at all.
CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS account_name_trgm ON billing_account"
    " USING gin (upper(name) gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS account_name_trgm"]


def on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_constraint_messages"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="account",
            index=models.Index(
                django.db.models.functions.text.Upper("number"), name="account_number_upper"
            ),
        ),
        migrations.RunPython(on_postgresql(CREATE), on_postgresql(DROP), elidable=False),
    ]
