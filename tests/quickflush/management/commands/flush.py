"""``flush`` for the tests: every table emptied, as Django's command does, in a fraction of the time.

Django's flush (run after each of the ~400 transactional tests) truncates every table, empty or
not, and then sends ``post_migrate``, whose two receivers (contenttypes, auth) insert every
content type and permission again. The end state is the same here, by two shortcuts:

- only the tables that hold a row are truncated (one query finds them; ``CASCADE`` takes along
  any table that refers to one of them, which PostgreSQL requires anyway);
- ``django_content_type`` and ``auth_permission`` are kept instead of being emptied and filled
  again, as long as they are exactly what ``post_migrate`` made at this process's first flush
  (their count and the sum of their ids, checked each time). Otherwise, or on SQLite, or with any
  option the tests' teardown does not use, Django's own command runs.
"""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.commands import flush
from django.db import connections

# The reference tables as post_migrate left them, per database alias: {(table, count, sum of ids)}.
_made_by_post_migrate: dict[str, frozenset[tuple[str, int, int]]] = {}


def _reference_tables() -> list[str]:
    return [ContentType._meta.db_table, Permission._meta.db_table]


def _fingerprint(connection) -> frozenset[tuple[str, int, int]]:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        found = []
        for table in _reference_tables():
            cursor.execute(f"SELECT COUNT(*), COALESCE(SUM(id), 0) FROM {quote(table)}")  # noqa: S608 (a model's table)
            count, total = cursor.fetchone()
            found.append((table, count, int(total)))
    return frozenset(found)


def _tables_with_rows(connection, tables: list[str]) -> list[str]:
    """The tables of ``tables`` that hold at least one row, in one query."""
    if not tables:
        return []
    quote = connection.ops.quote_name
    probes = " UNION ALL ".join(
        f"SELECT {index} WHERE EXISTS (SELECT 1 FROM {quote(table)})" for index, table in enumerate(tables)
    )
    with connection.cursor() as cursor:
        cursor.execute(probes)  # noqa: S608 (the models' own table names, quoted)
        return [tables[row[0]] for row in cursor.fetchall()]


class Command(flush.Command):
    help = flush.Command.help + " (tests: only the tables holding rows; content types and permissions kept)"

    def handle(self, **options):
        database = options["database"]
        connection = connections[database]
        plain = (
            connection.vendor != "postgresql"
            or options["interactive"]
            or options.get("reset_sequences")  # these three are call_command()'s only, no parser options
            or options.get("inhibit_post_migrate")
            or options.get("allow_cascade")
        )
        if plain or _made_by_post_migrate.get(database) != _fingerprint(connection):
            super().handle(**options)
            if not plain:
                _made_by_post_migrate[database] = _fingerprint(connection)
            return
        kept = set(_reference_tables())
        tables = [
            table
            for table in connection.introspection.django_table_names(only_existing=True, include_views=False)
            if table not in kept
        ]
        busy = _tables_with_rows(connection, tables)
        if busy:
            connection.ops.execute_sql_flush(connection.ops.sql_flush(self.style, busy, allow_cascade=True))
