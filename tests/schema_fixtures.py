"""Tests that migrate the test database back to an older release's schema, and forward again."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_to(targets):
    """Migrate the test database to ``targets`` ([(app, migration)]); the historical models there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def latest_schema_afterwards(request):
    # The rest of the suite needs every migration applied (later migrations depend on the ones a test undid).
    yield
    if request.node.get_closest_marker("django_db") is None:
        return  # this test never migrated
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
