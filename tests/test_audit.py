"""The audit trail nobody can rewrite: the hash chain, verify_audit, and PostgreSQL's triggers."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from accounts.models import AccountEvent
from audit import chain as audit_chain
from audit.models import AuditAnchor
from responses import trail as request_trail
from responses import workflow
from responses.models import Decision, RequestEvent, ResponseRequest
from tests.support.filing import file_request
from tests.support.tampering import tamper, tamper_event, tamper_request
from worker.keeper import keeper_beat


@pytest.fixture
def trail(alice, bob, frank):
    """Three requests with a few decisions: a chain of several events."""
    first = file_request(
        user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="one"
    )
    workflow.approve(first, user=bob, comment="ok")
    second = file_request(
        user=frank, task="deleteFile", target_host="h-2", params={"path": "C:\\x"}, justification="two"
    )
    workflow.reject(second, user=bob, comment="no")
    third = file_request(
        user=alice, task="isolateHost", target_host="h-3", params={"action": 0}, justification="three"
    )
    workflow.cancel(third, user=alice)
    return [first, second, third]


def verify(*args: str) -> str:
    out = io.StringIO()
    call_command("verify_audit", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def broken(*args: str) -> str:
    """verify_audit's complaint (it must exit 1)."""
    with pytest.raises(CommandError) as failure:
        verify(*args)
    assert failure.value.returncode == 1
    return str(failure.value)


def test_it_verifies_intact_chains(trail):
    count = RequestEvent.objects.count()
    assert count >= 6
    assert verify().startswith(f"audit chain intact: {count} events verified in 3 request chains, ")
    for request in trail:
        seqs = list(request.events.order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))  # one chain per request, numbered from 1


def test_each_event_links_to_the_one_before_in_its_request(trail):
    for request in trail:
        events = list(request.events.order_by("seq"))
        assert events[0].prev_hash == audit_chain.GENESIS
        for before, after in zip(events, events[1:], strict=False):
            assert after.prev_hash == before.hash


def test_the_hash_is_keyed(trail, settings):
    event = RequestEvent.objects.order_by("id").first()
    content = event.content()
    assert event.hash == audit_chain.link_hash(event.prev_hash, event.chain, event.seq, content)
    settings.AUDIT_CHAIN_KEY = "another-key-another-key-another-key-0123"
    assert event.hash != audit_chain.link_hash(event.prev_hash, event.chain, event.seq, content)


def test_a_tampered_event_is_detected(trail):
    victim = RequestEvent.objects.get(kind="rejected")
    tamper_event("UPDATE responses_requestevent SET actor_username = %s WHERE id = %s", ["carol", victim.pk])
    complaint = broken()
    assert f"event seq {victim.seq} (id {victim.pk}" in complaint
    assert "content was changed" in complaint


def test_a_deleted_event_is_detected(trail):
    victim = trail[0].events.get(seq=1)
    tamper_event("DELETE FROM responses_requestevent WHERE id = %s", [victim.pk])
    assert f"request {trail[0].uuid}, approved): expected seq 1; events before it were deleted" in broken()


def _reseal(request, hasher) -> None:
    """Recompute a request's whole chain, as a forger who can write the table would."""
    prev = audit_chain.GENESIS
    for event in request.events.order_by("seq"):
        event.message = "nothing to see" if event.kind == "filed" else event.message
        digest = hasher(prev, event.chain, event.seq, event.content())
        tamper_event(
            "UPDATE responses_requestevent SET message = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [event.message, prev, digest, event.pk],
        )
        prev = digest
    # ...and the row to match: verify_audit compares the justification with the FILED event's message
    tamper_request("UPDATE responses_responserequest SET justification = %s WHERE id = %s", ["nothing to see", request.pk])


def test_a_chain_recomputed_with_plain_sha256_is_detected(trail):
    _reseal(trail[1], audit_chain.plain_hash)
    complaint = broken()
    assert f"request {trail[1].uuid}" in complaint
    assert "plain sha256, not keyed with AUDIT_CHAIN_KEY" in complaint


def test_a_chain_recomputed_with_another_key_is_detected(trail):
    _reseal(trail[1], lambda *link: audit_chain.link_hash(*link, key="a-forgers-guess-at-the-key-0123456789"))
    complaint = broken()
    assert f"request {trail[1].uuid}" in complaint
    assert "changed after it was written (or it was hashed with another key)" in complaint


def test_deleting_the_last_event_of_a_chain_is_caught_by_the_anchor(trail):
    call_command("anchor_audit", stdout=io.StringIO())
    last = trail[2].events.order_by("-seq").first()
    tamper_event("DELETE FROM responses_requestevent WHERE id = %s", [last.pk])
    complaint = broken()
    assert f"chain {trail[2].uuid}: ends at seq {last.seq - 1}" in complaint
    assert f"events {last.seq}..{last.seq} were deleted" in complaint


def test_events_newer_than_the_latest_anchor_are_counted(trail, alice, bob):
    audit_chain.take_anchor()
    assert "0 chains with events newer than it" in verify()
    file_request(user=alice, task="isolateHost", target_host="h-9", params={"action": 1}, justification="x")
    assert "1 chains with events newer than it" in verify()
    anchor = audit_chain.take_anchor()
    assert len(anchor.heads) >= 1  # the new request's chain, at least, is in the second anchor


def test_the_workers_beat_anchors_when_one_is_due(trail, settings, ksc_queue):

    settings.AUDIT_ANCHOR_INTERVAL = 300
    keeper_beat()
    first = AuditAnchor.objects.get()
    assert set(first.heads) == {str(request.uuid) for request in trail} | {"accounts"}
    keeper_beat()
    assert AuditAnchor.objects.count() == 1  # not due yet
    assert audit_chain.anchor_if_due(first.created_at + dt.timedelta(seconds=301)).seq == 2
    settings.AUDIT_ANCHOR_INTERVAL = 0
    assert audit_chain.anchor_if_due(first.created_at + dt.timedelta(days=1)) is None


def test_an_edited_anchor_is_detected(trail):
    anchor = audit_chain.take_anchor()
    chain = str(trail[0].uuid)
    heads = {**anchor.heads, chain: [1, anchor.heads[chain][1]]}
    tamper(
        "UPDATE responses_auditanchor SET heads = %s WHERE id = %s",
        [json.dumps(heads), anchor.pk],
        table="responses_auditanchor",
        trigger="portal_audit_immutable",
    )
    assert f"anchor {anchor.seq}" in broken()


def test_content_changed_after_filing_is_detected(trail):
    tamper_request("UPDATE responses_responserequest SET target_host = %s WHERE id = %s", ["h-evil", trail[0].pk])
    assert f"request {trail[0].uuid}: its task, host or params were changed after it was filed" in broken()


def test_a_rewrite_with_the_key_is_caught_by_the_siems_copy(trail, tmp_path):
    kept = tmp_path / "siem.jsonl"
    call_command("export_audit", "--output", str(kept))
    # Someone who holds the key rewrites history: the chains alone look intact...
    _reseal(trail[1], audit_chain.link_hash)
    assert "audit chain intact" in verify()
    # ...but not against what the SIEM kept.
    complaint = broken("--against", str(kept))
    assert f"event seq 1 of chain {trail[1].uuid}: the database's differs from the export's" in complaint


def test_a_bad_siem_file_is_refused(trail, tmp_path):
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n")
    with pytest.raises(CommandError) as failure:
        verify("--against", str(junk))
    assert failure.value.returncode == 2
    assert "cannot read it as JSON lines" in str(failure.value)


def test_account_events_form_a_chain_too(trail, mallory):
    event = AccountEvent.objects.filter(subject_username="mallory").order_by("seq").first()
    tamper(
        "UPDATE responses_accountevent SET actor_username = %s WHERE id = %s",
        ["nobody", event.pk],
        table="responses_accountevent",
        trigger="portal_audit_immutable",
    )
    assert f"account event seq {event.seq} (id {event.pk}" in broken()


@pytest.mark.django_db(transaction=True)
def test_writers_on_different_requests_do_not_wait_for_each_other(postgres, alice, bob):
    """One chain per request: a transaction holding request A open never blocks an event on request B."""
    first = file_request(user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="a")
    second = file_request(user=alice, task="isolateHost", target_host="h-2", params={"action": 1}, justification="b")
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                request_trail.append(ResponseRequest.objects.get(pk=first.pk), "held", "system", "pending_approval", "slow")
                holding.set()
                release.wait(10)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            holding.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert holding.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                # The old single head row would make this wait for the slow writer: fail fast instead.
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            request_trail.append(ResponseRequest.objects.get(pk=second.pk), "held", "system", "pending_approval", "fast")
        assert second.events.filter(message="fast").exists()  # committed while the other is still open
        assert not first.events.filter(message="slow").exists()
    finally:
        release.set()
        thread.join(10)
    assert not errors
    assert first.events.filter(message="slow").exists()
    assert "audit chain intact" in verify()


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
            Decision.objects.update(comment="approved, honest")
        with pytest.raises(DatabaseError), transaction.atomic():
            LogEntry.objects.all().delete()
        assert LogEntry.objects.count() > 0

    def test_deleting_a_user_still_works_and_keeps_their_name(self, postgres, trail, bob):
        bob.delete()  # clears approver_id / actor_id: the one update the triggers allow
        approval = Decision.objects.filter(approver_username="bob").first()
        assert approval is not None and approval.approver_id is None
        assert "audit chain intact" in verify()


class TestExport:
    def _lines(self, response) -> list[dict]:
        return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]

    def test_auditors_download_the_trail_as_json_lines(self, client, login, dave, trail):
        audit_chain.take_anchor()
        login(client, dave)
        response = client.get("/audit/export.jsonl")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/x-ndjson"
        lines = self._lines(response)
        events = [line for line in lines if line["record"] == "event"]
        assert len(events) == RequestEvent.objects.count()
        first_chain = [line for line in events if line["chain"] == str(trail[0].uuid)]
        assert [line["seq"] for line in first_chain] == list(range(1, len(first_chain) + 1))
        assert first_chain[0]["prev_hash"] == audit_chain.GENESIS
        assert all(b["prev_hash"] == a["hash"] for a, b in zip(first_chain, first_chain[1:], strict=False))
        assert {line["actor"] for line in events} >= {"alice", "bob", "frank"}
        # account events and the anchor travel too: a SIEM keeps everything verify_audit --against needs
        assert {line["record"] for line in lines} == {"event", "account_event", "anchor"}
        anchor = next(line for line in lines if line["record"] == "anchor")
        assert anchor["heads"][str(trail[0].uuid)] == [first_chain[-1]["seq"], first_chain[-1]["hash"]]

    def test_an_incremental_pull_returns_only_newer_records(self, client, login, dave, trail, alice):
        login(client, dave)
        cut = RequestEvent.objects.order_by("-created_at").first().created_at
        newer = file_request(
            user=alice, task="isolateHost", target_host="h-7", params={"action": 1}, justification="later"
        )
        lines = self._lines(client.get("/audit/export.jsonl", {"since": (cut + dt.timedelta(microseconds=1)).isoformat()}))
        assert [line["chain"] for line in lines] == [str(newer.uuid)]

    @pytest.mark.parametrize("query", ["since=yesterday", "since=2026-13-01"])
    def test_bad_filters_are_refused(self, client, login, dave, trail, query):
        login(client, dave)
        response = client.get(f"/audit/export.jsonl?{query}")
        assert response.status_code == 400
        assert b"must be" in response.content

    def test_only_auditors_and_superusers_export(self, client, login, alice, bob, root, trail):
        for user, expected in ((alice, 403), (bob, 403), (root, 200)):
            login(client, user)
            assert client.get("/audit/export.jsonl").status_code == expected
        client.logout()
        assert client.get("/audit/export.jsonl").status_code == 302

    def test_the_command_writes_the_same_lines(self, trail, tmp_path):
        target = tmp_path / "audit.jsonl"
        call_command("export_audit", "--output", str(target))
        lines = [json.loads(line) for line in target.read_text().splitlines()]
        assert len([line for line in lines if line["record"] == "event"]) == RequestEvent.objects.count()
        assert len([line for line in lines if line["record"] == "account_event"]) == AccountEvent.objects.count()
        with pytest.raises(CommandError) as refused:
            call_command("export_audit", "--since", "soon")
        assert refused.value.returncode == 2
