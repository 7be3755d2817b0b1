"""Upgrading and running the audit chain in production: the migration, and the database roles.

- Migration 0010 re-seals events written under the old global sha256 chain into
  keyed per-request chains, after checking the old chain; it refuses a broken one.
- The README's role split holds: a role that does not own the tables cannot switch
  the triggers off, so the portal's own credentials cannot rewrite the trail.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.fixtures.database import migrate_to
from tests.support.filing import file_request
from tests.support.tampering import tamper_event

BEFORE = [("responses", "0012_integrity_frozen_content")]
AFTER = [("responses", "0013_integrity_keyed_chains")]


pytestmark = pytest.mark.usefixtures("latest_schema_afterwards")


def _old_chain(apps, *, break_at: int | None = None) -> list:
    """Three requests' events in the old global sha256 chain, as the previous release wrote them."""
    User = apps.get_model("auth", "User")
    Request = apps.get_model("responses", "ResponseRequest")
    Event = apps.get_model("responses", "RequestEvent")
    head = apps.get_model("responses", "AuditChainHead").objects.create(pk=1)
    user = User.objects.create(username="legacy-alice")
    prev, seq = "0" * 64, 0
    requests = []
    for number in range(3):
        request = Request.objects.create(
            uuid=uuid.uuid4(), task="isolateHost", target_host=f"h-{number}", params={"action": 1},
            justification="old", fingerprint="f" * 64, requester=user, requester_username=user.username,
            status="pending_approval", approvals_required=1,
        )
        requests.append(request)
        for kind in ("filed", "held"):
            seq += 1
            message = "old" if kind == "filed" else "m"  # a FILED event's message has always been the justification
            at = timezone.now()
            content = {
                "seq": seq, "request": str(request.uuid), "kind": kind, "actor": "legacy-alice", "before": "",
                "after": "pending_approval", "message": message, "detail": {}, "at": at.isoformat(),
            }
            canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            digest = hashlib.sha256((prev + canonical).encode()).hexdigest()
            if seq == break_at:
                digest = "0" * 64
            Event.objects.create(
                request=request, kind=kind, actor_username="legacy-alice", status_after="pending_approval",
                message=message, detail={}, created_at=at, seq=seq, prev_hash=prev, hash=digest,
            )
            prev = digest
    head.last_seq, head.last_hash = seq, prev
    head.save()
    return requests


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_reseals_the_old_chain_per_request_with_the_key():
    old = migrate_to(BEFORE)
    requests = _old_chain(old)
    new = migrate_to(AFTER)
    Event = new.get_model("responses", "RequestEvent")
    for request in requests:
        assert list(Event.objects.filter(request_id=request.pk).order_by("seq").values_list("seq", flat=True)) == [1, 2]
    # verify_audit is today's code and reads today's tables: the later migrations first (0018 adds a column).
    migrate_to(MigrationExecutor(connection).loader.graph.leaf_nodes())
    out = io.StringIO()
    call_command("verify_audit", stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith("audit chain intact: 6 events verified in 3 request chains")


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_refuses_a_broken_old_chain_and_changes_nothing():
    old = migrate_to(BEFORE)
    _old_chain(old, break_at=4)
    with pytest.raises(RuntimeError, match="the audit chain is broken at event seq 4"):
        migrate_to(AFTER)
    Event = old.get_model("responses", "RequestEvent")
    assert sorted(Event.objects.values_list("seq", flat=True)) == [1, 2, 3, 4, 5, 6]
    # leave the database as the other tests expect it: the broken rows go, the schema comes back
    tamper_event("DELETE FROM responses_requestevent", [])
    migrate_to(AFTER)


def test_a_role_that_does_not_own_the_tables_cannot_switch_the_triggers_off(postgres, alice):
    file_request(user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="x")
    # The role is created inside the test's transaction, so its rollback removes it again.
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE edr_portal_tests_app_role")
        cursor.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO edr_portal_tests_app_role"
        )
        cursor.execute("SET ROLE edr_portal_tests_app_role")
        try:
            with pytest.raises(DatabaseError, match="must be owner"), transaction.atomic():
                cursor.execute("ALTER TABLE responses_requestevent DISABLE TRIGGER portal_audit_immutable")
            with pytest.raises(DatabaseError, match="cannot be changed or deleted"), transaction.atomic():
                cursor.execute("DELETE FROM responses_requestevent")
            cursor.execute("SELECT count(*) FROM responses_requestevent")  # it may still read
            assert cursor.fetchone()[0] == 1
        finally:
            cursor.execute("RESET ROLE")
