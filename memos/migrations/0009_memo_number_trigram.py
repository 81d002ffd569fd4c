"""The memo list's number search is a case-insensitive "contains" (0042 finds CM00000042):
a trigram index on upper(number) serves it on PostgreSQL, where a btree cannot."""

from django.db import migrations

# As billing 0007: PostgreSQL only (GIN and pg_trgm), so not declared on the model.
CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS memo_number_trgm ON memos_memo"
    " USING gin (upper(number) gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS memo_number_trgm"]


def on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("memos", "0008_memo_amount_keyset"),
    ]

    operations = [
        migrations.RunPython(on_postgresql(CREATE), on_postgresql(DROP), elidable=False),
    ]
