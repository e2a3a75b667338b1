"""The database cache's table (settings.CACHES without REDIS_URL), so that `migrate`
is all a fresh clone or a test database needs for the login throttle to share its counts
between processes. Created whether or not Redis is configured, so switching needs nothing."""

from django.core.management import call_command
from django.db import migrations

TABLE = "django_cache"  # settings.CACHES["default"]["LOCATION"]


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", TABLE, database=schema_editor.connection.alias, verbosity=0)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_ledger")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
