"""The audit trail nobody can rewrite: the hash chain, verify_audit, and PostgreSQL's triggers."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, transaction

from responses import workflow
from responses.models import Approval, RequestEvent
from tests.tampering import tamper_event


@pytest.fixture
def trail(alice, bob, frank):
    """Three requests with a few decisions: a chain of several events."""
    first = workflow.file_request(
        user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="one"
    )
    workflow.approve(first, user=bob, comment="ok")
    second = workflow.file_request(
        user=frank, task="deleteFile", target_host="h-2", params={"path": "C:\\x"}, justification="two"
    )
    workflow.reject(second, user=bob, comment="no")
    third = workflow.file_request(
        user=alice, task="isolateHost", target_host="h-3", params={"action": 0}, justification="three"
    )
    workflow.cancel(third, user=alice)
    return [first, second, third]


def verify() -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def test_it_verifies_an_intact_chain(trail):
    count = RequestEvent.objects.count()
    assert count >= 6
    assert verify().strip() == f"audit chain intact: {count} events verified"
    seqs = list(RequestEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, count + 1))


def test_each_event_links_to_the_one_before(trail):
    events = list(RequestEvent.objects.order_by("seq"))
    assert events[0].prev_hash == "0" * 64
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash


def test_a_tampered_event_is_detected(trail):
    victim = RequestEvent.objects.get(kind="rejected")
    tamper_event("UPDATE responses_requestevent SET actor_username = %s WHERE id = %s", ["carol", victim.pk])
    with pytest.raises(CommandError) as broken:
        verify()
    assert broken.value.returncode == 1
    assert f"event seq {victim.seq} (id {victim.pk}" in str(broken.value)
    assert "content was changed" in str(broken.value)


def test_a_deleted_event_is_detected(trail):
    victim = RequestEvent.objects.order_by("seq")[2]
    tamper_event("DELETE FROM responses_requestevent WHERE id = %s", [victim.pk])
    with pytest.raises(CommandError, match=f"expected seq {victim.seq}; events before it were deleted"):
        verify()


def test_deleting_the_latest_events_is_detected(trail):
    last = RequestEvent.objects.order_by("-seq").first()
    tamper_event("DELETE FROM responses_requestevent WHERE id = %s", [last.pk])
    with pytest.raises(CommandError, match="the latest events were deleted"):
        verify()


class TestPostgresRefusesChanges:
    def test_an_update_of_an_event_is_refused(self, postgres, trail):
        event = RequestEvent.objects.first()
        with pytest.raises(DatabaseError, match="cannot be changed or deleted"), transaction.atomic():
            RequestEvent.objects.filter(pk=event.pk).update(message="rewritten")
        event.refresh_from_db()
        assert event.message != "rewritten"

    def test_a_delete_of_an_event_is_refused(self, postgres, trail):
        with pytest.raises(DatabaseError, match="cannot be changed or deleted"), transaction.atomic():
            RequestEvent.objects.all().delete()
        assert RequestEvent.objects.count() >= 6

    def test_decisions_and_auditlog_entries_cannot_be_rewritten(self, postgres, trail):
        from auditlog.models import LogEntry

        with pytest.raises(DatabaseError), transaction.atomic():
            Approval.objects.update(comment="approved, honest")
        with pytest.raises(DatabaseError), transaction.atomic():
            LogEntry.objects.all().delete()
        assert LogEntry.objects.count() > 0

    def test_deleting_a_user_still_works_and_keeps_their_name(self, postgres, trail, bob):
        bob.delete()  # clears approver_id / actor_id: the one update the triggers allow
        approval = Approval.objects.filter(approver_username="bob").first()
        assert approval is not None and approval.approver_id is None
        assert "audit chain intact" in verify()


class TestExport:
    def _lines(self, response) -> list[dict]:
        import json

        return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]

    def test_auditors_download_the_trail_as_json_lines(self, client, dave, trail):
        client.force_login(dave)
        response = client.get("/audit/export.jsonl")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/x-ndjson"
        lines = self._lines(response)
        events = list(RequestEvent.objects.order_by("seq"))
        assert [line["seq"] for line in lines] == [event.seq for event in events]
        assert lines[0]["prev_hash"] == "0" * 64
        assert all(after["prev_hash"] == before["hash"] for before, after in zip(lines, lines[1:], strict=False))
        assert {line["actor"] for line in lines} >= {"alice", "bob", "frank"}
        assert lines[0]["request"] == str(trail[0].uuid)

    def test_an_incremental_pull_returns_only_newer_events(self, client, dave, trail):
        client.force_login(dave)
        lines = self._lines(client.get("/audit/export.jsonl?after_seq=3"))
        assert [line["seq"] for line in lines] == list(range(4, RequestEvent.objects.count() + 1))

    @pytest.mark.parametrize("query", ["after_seq=-1", "after_seq=x", "since=yesterday"])
    def test_bad_filters_are_refused(self, client, dave, trail, query):
        client.force_login(dave)
        response = client.get(f"/audit/export.jsonl?{query}")
        assert response.status_code == 400
        assert b"must be" in response.content

    def test_only_auditors_and_superusers_export(self, client, alice, bob, root, trail):
        for user, expected in ((alice, 403), (bob, 403), (root, 200)):
            client.force_login(user)
            assert client.get("/audit/export.jsonl").status_code == expected
        client.logout()
        assert client.get("/audit/export.jsonl").status_code == 302

    def test_the_command_writes_the_same_lines(self, trail, tmp_path):
        import json

        target = tmp_path / "audit.jsonl"
        call_command("export_audit", "--output", str(target))
        lines = [json.loads(line) for line in target.read_text().splitlines()]
        assert len(lines) == RequestEvent.objects.count()
        with pytest.raises(CommandError) as refused:
            call_command("export_audit", "--since", "soon")
        assert refused.value.returncode == 2
