"""Migration 0026 (several KSC servers): every row made before it is on the server ``primary``.

Rows written by the previous release (historical models at 0025) keep their fingerprints,
land on ``primary``, and from then on incident and task ids are unique per server only.
PostgreSQL freezes a request's server with the rest of what was approved.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from responses.models import HostDirectoryEntry, ResponseOutcome, ResponseRequest, payload_fingerprint
from tests.fixtures.database import migrate_to

BEFORE = [("responses", "0025_comment_escalation_events")]

pytestmark = pytest.mark.usefixtures("latest_schema_afterwards")


def _rows_of_the_previous_release(apps) -> dict:
    User = apps.get_model("auth", "User")
    Request = apps.get_model("responses", "ResponseRequest")
    Outcome = apps.get_model("responses", "ResponseOutcome")
    Directory = apps.get_model("responses", "HostDirectoryEntry")
    user = User.objects.create(username="legacy-alice")
    made = {}
    for number, status in enumerate(("pending_approval", "submitted")):
        params = {"action": 1}
        made[status] = Request.objects.create(
            uuid=uuid.uuid4(),
            task="isolateHost",
            target_host=f"host-{number}",
            params=params,
            justification="old",
            # Before servers, the fingerprint covered task, host and params: it must stay true.
            fingerprint=payload_fingerprint("isolateHost", f"host-{number}", params),
            requester=user,
            requester_username=user.username,
            status=status,
            approvals_required=1,
            ksc_incident_id=17 if status == "submitted" else None,
        )
    Outcome.objects.create(request=made["submitted"], ksc_task_id="501")
    # The old directory kept the KSC_HOST address that answered, or "" for a name from a filing alone.
    Directory.objects.create(host_id="host-0", display_name="TKY-WS-0", server="ksc.corp.example")
    Directory.objects.create(host_id="host-1", display_name="TKY-WS-1", server="")
    return made


@pytest.mark.django_db(transaction=True)
def test_it_puts_every_existing_row_on_primary_and_keeps_the_fingerprints():
    old = migrate_to(BEFORE)
    made = _rows_of_the_previous_release(old)
    migrate_to(MigrationExecutor(connection).loader.graph.leaf_nodes())

    requests = {rr.status: rr for rr in ResponseRequest.objects.all()}
    assert {rr.server for rr in requests.values()} == {"primary"}
    for status, before in made.items():
        rr = requests[status]
        assert rr.fingerprint == before.fingerprint
        # The fingerprint of a request on primary is computed as before: the audit chain's FILED events stay true.
        assert rr.fingerprint == payload_fingerprint(rr.task, rr.target_host, rr.params, rr.server)
    assert list(ResponseOutcome.objects.values_list("server", "ksc_task_id")) == [("primary", "501")]
    assert set(HostDirectoryEntry.objects.values_list("server", flat=True)) == {"primary"}


@pytest.mark.django_db(transaction=True)
def test_incident_and_task_ids_are_unique_per_server_after_it():
    old = migrate_to(BEFORE)
    _rows_of_the_previous_release(old)
    migrate_to(MigrationExecutor(connection).loader.graph.leaf_nodes())
    submitted = ResponseRequest.objects.get(status="submitted")

    def twin(server: str) -> ResponseRequest:
        return ResponseRequest.objects.create(
            task="isolateHost",
            server=server,
            target_host="host-9",
            params={"action": 1},
            justification="x",
            fingerprint=payload_fingerprint("isolateHost", "host-9", {"action": 1}, server),
            requester_username="legacy-alice",
            status="submitted",
            approvals_required=1,
            ksc_incident_id=submitted.ksc_incident_id,
        )

    on_eu = twin("eu")  # the same incident id on another server: another incident
    with pytest.raises(IntegrityError), transaction.atomic():
        twin("primary")
    ResponseOutcome.objects.create(request=on_eu, server="eu", ksc_task_id="501")
    assert ResponseOutcome.objects.filter(ksc_task_id="501").count() == 2
    # The fingerprint names a server other than primary: the same content on eu is not the same request.
    assert on_eu.fingerprint != payload_fingerprint("isolateHost", "host-9", {"action": 1})


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_an_approved_request_cannot_move_to_another_server():
    if connection.vendor != "postgresql":
        pytest.skip(f"the frozen-content trigger is PostgreSQL's; DATABASE_URL is {connection.vendor}")
    old = migrate_to(BEFORE)
    _rows_of_the_previous_release(old)
    migrate_to(MigrationExecutor(connection).loader.graph.leaf_nodes())
    pending = ResponseRequest.objects.get(status="pending_approval")
    submitted = ResponseRequest.objects.get(status="submitted")
    with pytest.raises(DatabaseError, match="cannot change after approval"), transaction.atomic():
        ResponseRequest.objects.filter(pk=submitted.pk).update(server="eu")
    # Before a decision nothing is frozen by the database (the workflow edits nothing either).
    ResponseRequest.objects.filter(pk=pending.pk).update(server="eu")
    assert ResponseRequest.objects.get(pk=pending.pk).server == "eu"
