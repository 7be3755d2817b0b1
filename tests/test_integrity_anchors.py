"""Anchors leave the database when they are taken (issue 23, point 6).

The attack: the tables' owner (triggers switched off, no AUDIT_CHAIN_KEY) deleted a request's
last events *and* the anchors that signed them; what was left was a shorter history that every
remaining anchor agreed with, so verify_audit said intact, and the next anchor signed it. Now
every anchor is also a log line and, with AUDIT_ANCHOR_LOG, a line in a file the database's
owner cannot rewrite; verification refuses anchors that end before those copies, or that stopped.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit import chain as audit_chain
from audit.models import AuditAnchor
from responses import trail, workflow
from responses.models import EventKind
from tests.support.filing import file_request
from tests.support.subprocesses import settings_in_subprocess
from tests.support.tampering import tamper, tamper_decision, tamper_event
from worker.keeper import keeper_beat


@pytest.fixture
def anchor(django_capture_on_commit_callbacks):
    """Take an anchor and run what its commit runs (the publication)."""

    def take(now: dt.datetime | None = None) -> AuditAnchor:
        with django_capture_on_commit_callbacks(execute=True):
            return audit_chain.take_anchor(now)

    return take


@pytest.fixture
def anchor_log(tmp_path, settings):
    path = tmp_path / "anchors.jsonl"
    settings.AUDIT_ANCHOR_LOG = str(path)
    return path


def _recorded(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_anchor_is_a_log_line_when_taken(db, anchor, caplog, alice):
    file_request(user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="x")
    with caplog.at_level(logging.INFO, logger="portal.audit.anchor"):
        taken = anchor()
    lines = [record.getMessage() for record in caplog.records if record.name == "portal.audit.anchor"]
    assert lines == [f"audit anchor seq=1 at={taken.created_at.isoformat()} hash={taken.hash} chains={len(taken.heads)}"]


def test_every_anchor_is_appended_to_the_anchor_log(db, anchor, anchor_log, alice):
    first = anchor()
    file_request(user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="x")
    second = anchor()
    assert _recorded(anchor_log) == [audit_chain.anchor_record(first), audit_chain.anchor_record(second)]
    assert audit_chain.verify().intact
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().rstrip().endswith("; 2 anchors recorded in AUDIT_ANCHOR_LOG match")


def test_an_anchor_rolled_back_is_never_published(db, anchor_log, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        audit_chain.take_anchor()
    assert len(callbacks) == 1  # published only by the commit
    assert not anchor_log.exists()


class TestErasingHistoryWithItsAnchors:
    """File a two-person request, anchor, approve once, anchor; then the owner deletes the approval,
    its event and the second anchor: a consistent shorter history."""

    @pytest.fixture
    def erased(self, postgres, anchor, settings, alice, bob):
        settings.APPROVALS_REQUIRED = 2
        request = file_request(
            user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="x"
        )
        anchor()
        workflow.approve(request, user=bob, comment="one of two")
        anchor()
        added = request.events.get(kind=EventKind.APPROVAL_ADDED)
        tamper_event("DELETE FROM responses_requestevent WHERE id = %s", [added.pk])
        tamper_decision("DELETE FROM responses_approval WHERE request_id = %s", [request.pk])
        tamper(
            "DELETE FROM responses_auditanchor WHERE seq = 2", [], table="responses_auditanchor",
            trigger="portal_audit_immutable",
        )
        return request

    def test_without_a_copy_outside_the_shorter_history_looks_intact(self, erased):
        assert audit_chain.verify().intact  # what anchors alone cannot stop (README, Security)

    def test_the_anchor_log_names_the_deleted_anchor(self, anchor_log, anchor, erased):
        problems = audit_chain.verify().problems
        assert any("anchor 2 of" in p and "recorded in AUDIT_ANCHOR_LOG but not in the database" in p for p in problems)
        with pytest.raises(CommandError, match="recorded in AUDIT_ANCHOR_LOG but not in the database"):
            call_command("verify_audit")

    def test_the_next_anchor_signing_the_shorter_history_differs_from_the_log(self, settings, tmp_path, anchor, erased):
        # The copy was kept since the start (written here from what the deleted anchor had published).
        path = tmp_path / "anchors.jsonl"
        kept = [{"seq": 1, "hash": AuditAnchor.objects.get(seq=1).hash}, {"seq": 2, "hash": "f" * 64}]
        path.write_text("".join(json.dumps(record) + "\n" for record in kept))
        settings.AUDIT_ANCHOR_LOG = str(path)
        anchor()  # seq 2 again, over the shorter history
        problems = audit_chain.verify().problems
        assert any("anchor 2 differs from the one recorded in AUDIT_ANCHOR_LOG" in p for p in problems), problems


class TestAnchorsThatStopped:
    def test_a_newest_anchor_older_than_twice_the_interval_is_refused(self, db, anchor, settings, alice):
        settings.AUDIT_ANCHOR_INTERVAL = 300
        old = anchor(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=601))
        problems = audit_chain.verify().problems
        assert any(f"the newest anchor, {old.seq} of" in p and "older than twice AUDIT_ANCHOR_INTERVAL" in p for p in problems)
        anchor()
        assert audit_chain.verify().intact

    def test_no_anchor_at_all_beside_old_events_is_refused(self, db, settings, monkeypatch, alice):
        settings.AUDIT_ANCHOR_INTERVAL = 300
        file_request(user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="x")
        assert audit_chain.verify().intact  # new events: the first anchor is not due yet
        an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        monkeypatch.setattr(trail, "timezone", SimpleNamespace(now=lambda: an_hour_ago))
        file_request(user=alice, task="isolateHost", target_host="h-2", params={"action": 1}, justification="y")
        problems = audit_chain.verify().problems
        assert problems and all("there is no anchor" in p for p in problems), problems

    def test_no_interval_no_age_check(self, db, anchor, settings):
        settings.AUDIT_ANCHOR_INTERVAL = 0  # only manage.py anchor_audit, whenever the operator runs it
        anchor(dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
        assert audit_chain.verify().intact


def test_an_unreadable_anchor_log_is_a_problem(db, tmp_path, settings):
    path = tmp_path / "anchors.jsonl"
    path.write_text("not json\n")
    settings.AUDIT_ANCHOR_LOG = str(path)
    assert any("line 1: it is not an anchor record" in p for p in audit_chain.verify().problems)


def test_a_relative_anchor_log_path_is_refused_at_start():
    done = settings_in_subprocess({"DEBUG": "1", "AUDIT_ANCHOR_LOG": "anchors.jsonl"})
    assert done.returncode != 0
    assert "AUDIT_ANCHOR_LOG must be an absolute path, not 'anchors.jsonl'." in done.stderr


def test_the_workers_beat_publishes_the_anchor_it_takes(db, anchor_log, ksc_queue, settings, caplog, django_capture_on_commit_callbacks):
    settings.AUDIT_ANCHOR_INTERVAL = 300
    with caplog.at_level(logging.INFO, logger="portal.audit.anchor"), django_capture_on_commit_callbacks(execute=True):
        keeper_beat()
    taken = AuditAnchor.objects.get()
    assert _recorded(anchor_log) == [audit_chain.anchor_record(taken)]
    assert any(f"audit anchor seq=1 at={taken.created_at.isoformat()} hash={taken.hash}" in r.getMessage() for r in caplog.records)
