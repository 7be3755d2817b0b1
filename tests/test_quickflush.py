"""The tests' ``flush`` (tests/quickflush) leaves what Django's own leaves, on PostgreSQL.

Every table empty but the content types and permissions, and those exactly the rows ``post_migrate``
makes; a test that changed them gets Django's whole flush, which puts them back.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command, get_commands
from django.core.management.commands import flush as django_flush
from django.db import connection

from tests.fixtures.accounts import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def reference_rows() -> tuple[set, set]:
    types = set(ContentType.objects.values_list("app_label", "model"))
    permissions = set(Permission.objects.values_list("content_type__app_label", "codename"))
    return types, permissions


def tables_with_rows() -> list[str]:
    kept = {ContentType._meta.db_table, Permission._meta.db_table}
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.django_table_names(only_existing=True, include_views=False):
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {connection.ops.quote_name(table)})")  # noqa: S608
            if table not in kept and cursor.fetchone()[0]:
                found.append(table)
    return found


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the quick flush is PostgreSQL's; on SQLite Django's own flush runs (DATABASE_URL unset)")


def test_the_tests_flush_is_the_quick_one():
    assert get_commands()["flush"] == "tests.quickflush"


def test_it_empties_every_table_and_keeps_what_post_migrate_made(postgres_only):
    django_flush.Command().run_from_argv(["manage.py", "flush", "--no-input"])  # Django's own, as a reference
    made = reference_rows()
    assert made[0] and made[1]

    for round_ in range(2):  # the first may be the process's whole flush; the second is then the quick one
        make_user(f"someone-{round_}", "analysts")
        Group.objects.create(name=f"a group {round_}")
        assert "auth_user" in tables_with_rows()
        call_command("flush", interactive=False, verbosity=0)
        assert tables_with_rows() == []
        assert reference_rows() == made
        assert not User.objects.exists()


def test_a_test_that_changed_the_permissions_gets_them_back(postgres_only):
    call_command("flush", interactive=False, verbosity=0)
    made = reference_rows()
    Permission.objects.filter(codename="view_user").delete()
    Permission.objects.create(codename="made_up", name="made up", content_type=ContentType.objects.get_for_model(User))

    call_command("flush", interactive=False, verbosity=0)

    assert reference_rows() == made
    assert not Permission.objects.filter(codename="made_up").exists()
    assert tables_with_rows() == []
