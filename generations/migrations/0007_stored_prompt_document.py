"""Prompt search reads a stored text-search document instead of computing one per row.

Before, the search's GIN index was over the expression to_tsvector('english', prompt),
and every row the search tested or ranked (the probe's 100 newest clips, each row of a
newest-first walk, each match ranked) computed that expression again from the prompt.
Now PostgreSQL keeps the document in a generated column, `prompt_document`, written as
the row is, and the index is over the column. The column is not a model field: Django
never writes it (PostgreSQL refuses a value for a generated column) and never reads it
except through generations.studio.search. SQLite, which searches without an index, has
no such column.

Adding a stored generated column rewrites the table under an exclusive lock: on a large
production table, run this migration in a quiet window (about a second per 100,000 rows
on the project's benchmark machine).
"""

from django.db import migrations

DOCUMENT = (
    "ALTER TABLE generations_generation ADD COLUMN IF NOT EXISTS prompt_document tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, COALESCE(prompt, ''))) STORED"
)
INDEX = (
    "CREATE INDEX IF NOT EXISTS generation_prompt_document ON generations_generation "
    "USING gin (prompt_document)"
)
OLD_INDEX = (
    "CREATE INDEX IF NOT EXISTS generation_prompt_search ON generations_generation "
    "USING gin (to_tsvector('english'::regconfig, COALESCE(prompt, '')))"
)


def store_documents(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DOCUMENT)
        schema_editor.execute(INDEX)
        schema_editor.execute("DROP INDEX IF EXISTS generation_prompt_search")


def compute_documents(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OLD_INDEX)
        schema_editor.execute("DROP INDEX IF EXISTS generation_prompt_document")
        schema_editor.execute("ALTER TABLE generations_generation DROP COLUMN prompt_document")


class Migration(migrations.Migration):
    dependencies = [("generations", "0006_vendor_account_model_ids")]

    operations = [migrations.RunPython(store_documents, compute_documents)]
