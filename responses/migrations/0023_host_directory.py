# The host directory (issue 24, point 4): every name the portal has known a KSC host by,
# searched by trigram where hosts are few, instead of over a million requests.

import django.utils.timezone
from django.db import DatabaseError, migrations, models, transaction

# Substring search (icontains: UPPER(column::text) LIKE UPPER('%word%')) through trigram
# indexes on the same expression. PostgreSQL only: SQLite has no pg_trgm.
TRIGRAM_INDEXES = {
    "hostdir_host_id_trgm_idx": "host_id",
    "hostdir_display_name_trgm_idx": "display_name",
    "hostdir_fqdn_trgm_idx": "fqdn",
}

# Every request's host and name as filed: the directory search finds every request the
# search over the requests' own columns found. "WHERE 1 = 1": SQLite needs a WHERE before
# ON CONFLICT in an INSERT ... SELECT. ON CONFLICT names no columns: the unique key of a host's
# name became (server, host_id, display_name) in 0026, and tests run this backfill on today's table.
BACKFILL = """
INSERT INTO responses_hostdirectory (host_id, display_name, fqdn, server, first_seen, last_seen)
SELECT target_host, target_host_name, '', '', MIN(created_at), MAX(created_at)
FROM responses_responserequest WHERE 1 = 1
GROUP BY target_host, target_host_name
ON CONFLICT DO NOTHING
"""


def create_trigram_indexes(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone() is None:
            try:
                with transaction.atomic(using=connection.alias):
                    cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            except DatabaseError as exc:
                raise RuntimeError(
                    "The portal's search needs PostgreSQL's pg_trgm extension, and this database role may not "
                    f"create it ({exc}). Ask the DBA to run CREATE EXTENSION pg_trgm; in this database, then migrate again."
                ) from exc
        for name, column in TRIGRAM_INDEXES.items():
            cursor.execute(
                f'CREATE INDEX IF NOT EXISTS {name} ON responses_hostdirectory '
                f'USING gin (UPPER("{column}"::text) gin_trgm_ops)'
            )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in TRIGRAM_INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(BACKFILL)
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute("ANALYZE responses_hostdirectory")


class Migration(migrations.Migration):

    dependencies = [
        ('responses', '0022_ioc_archive_store'),
    ]

    operations = [
        migrations.CreateModel(
            name='HostDirectoryEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('host_id', models.CharField(help_text='KSC internal host id', max_length=256)),
                ('display_name', models.CharField(blank=True, max_length=255)),
                ('fqdn', models.CharField(blank=True, max_length=255)),
                ('server', models.CharField(blank=True, max_length=255)),
                ('first_seen', models.DateTimeField(default=django.utils.timezone.now)),
                ('last_seen', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'db_table': 'responses_hostdirectory',
                'constraints': [
                    models.UniqueConstraint(fields=('host_id', 'display_name'), name='hostdir_host_name_once'),
                ],
            },
        ),
        migrations.AddIndex(
            model_name='responserequest',
            index=models.Index(fields=['target_host_name'], name='rr_target_host_name_idx'),
        ),
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
