"""Upgrading to the release where AccountEvent lives in accounts and the anchors and verifications in audit.

The moves are state-only (accounts 0005, audit 0001, responses 0028): the tables, their rows and the
append-only triggers stay where they were. The content types are renamed, not replaced, so the
permissions granted on them stay granted. On PostgreSQL, with rows the old release wrote.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts import account_chain
from accounts.models import AccountEvent, AccountEventKind
from audit import chain
from audit.models import AuditAnchor, ChainVerification
from tests.fixtures.database import migrate_to

BEFORE = [("responses", "0026_chat_review_events"), ("accounts", "0004_servers_server_scope"), ("audit", None)]
AFTER = [("responses", "0028_apps_models_moved"), ("accounts", "0005_apps_account_event"), ("audit", "0001_apps_audit_models")]

pytestmark = pytest.mark.usefixtures("latest_schema_afterwards")


def _latest() -> list[tuple[str, str]]:
    """Every app's newest migration: the models the code uses read columns later migrations added."""
    from django.db.migrations.loader import MigrationLoader

    return MigrationLoader(connection).graph.leaf_nodes()


def _rows_of_the_old_release(apps) -> dict[str, int]:
    """An account event sealed in the keyed chain, a verification, and a permission on the account events."""
    OldEvent = apps.get_model("responses", "AccountEvent")
    OldVerification = apps.get_model("responses", "ChainVerification")
    OldContentType = apps.get_model("contenttypes", "ContentType")
    OldPermission = apps.get_model("auth", "Permission")
    at = timezone.now() - dt.timedelta(minutes=5)
    event = OldEvent(
        created_at=at, kind="groups_changed", actor_username="admin", subject_username="bob", detail={"added": ["x"]}
    )
    content = {"kind": event.kind, "actor": "admin", "subject": "bob", "detail": event.detail, "at": at.isoformat()}
    event.seq, event.prev_hash = 1, chain.GENESIS
    event.hash = chain.link_hash(chain.GENESIS, "accounts", 1, content)
    event.save()
    OldVerification.objects.create(started_at=at, finished_at=at, source="command", intact=True, account_events=1)
    content_type, _ = OldContentType.objects.get_or_create(app_label="responses", model="accountevent")
    permission, _ = OldPermission.objects.get_or_create(
        content_type=content_type, codename="view_accountevent", defaults={"name": "Can view account event"}
    )
    return {"event": event.pk, "content_type": content_type.pk, "permission": permission.pk}


@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_move_stay_readable_chained_and_append_only(postgres):
    kept = _rows_of_the_old_release(migrate_to(BEFORE))

    migrate_to(AFTER)
    migrate_to(_latest())
    ContentType.objects.clear_cache()
    assert AccountEvent._meta.db_table == "responses_accountevent"
    event = AccountEvent.objects.get(pk=kept["event"])
    assert (event.seq, event.kind, event.subject_username) == (1, AccountEventKind.GROUPS_CHANGED, "bob")
    assert ChainVerification.objects.get().account_events == 1
    # The chain goes on from the old row: the next event links to its hash, and the whole chain verifies.
    following = account_chain.append_account_event(
        AccountEvent(kind=AccountEventKind.USER_CHANGED, actor_username="admin", subject_username="bob")
    )
    assert (following.seq, following.prev_hash) == (2, event.hash)
    anchor = chain.take_anchor()
    assert anchor.heads["accounts"] == [2, following.hash]
    report = chain.verify()
    assert report.problems == [] and report.account_events == 2
    # Same content type row, now the accounts app's: the permission granted on it stays.
    assert ContentType.objects.get_for_model(AccountEvent).pk == kept["content_type"]
    assert Permission.objects.get(pk=kept["permission"]).content_type.app_label == "accounts"
    assert not ContentType.objects.filter(app_label="responses", model="accountevent").exists()
    # The append-only triggers came along with the tables.
    for sql, params in (
        ("UPDATE responses_accountevent SET actor_username = %s WHERE id = %s", ["nobody", event.pk]),
        ("DELETE FROM responses_auditanchor WHERE id = %s", [anchor.pk]),
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    assert AccountEvent.objects.get(pk=event.pk).actor_username == "admin"
    assert AuditAnchor.objects.filter(pk=anchor.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_move_can_be_undone_without_losing_a_row(postgres):
    kept = _rows_of_the_old_release(migrate_to(BEFORE))
    migrate_to(AFTER)

    back = migrate_to(BEFORE)
    assert back.get_model("responses", "AccountEvent").objects.get(pk=kept["event"]).subject_username == "bob"
    assert back.get_model("responses", "ChainVerification").objects.count() == 1
    assert back.get_model("contenttypes", "ContentType").objects.get(pk=kept["content_type"]).app_label == "responses"
