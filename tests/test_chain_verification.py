"""Issue 17, point 7: every verification of the audit chains is kept, and the pages lead with the last one.

"Verify now" (POST /audit/chain/), `manage.py verify_audit` and the keeper's scheduled check each
leave a ChainVerification with the verdict, the counts and the problems in the report's words;
the chain page, its history and the auditors' request list show it, and flag a verification that
is overdue. Real PostgreSQL, Redis and RQ worker; the tables are tampered with as their owner could.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import subprocess
import time

import django_rq
import pytest
from django.conf import settings as django_settings
from django.core import serializers
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.utils import timezone

from accounts.models import AccountEvent
from audit import chain as audit_chain
from audit import verification as chain_verification
from audit.models import AuditAnchor, ChainVerification, VerificationSource
from responses import jobs, workflow
from responses.models import RequestEvent
from tests.support.filing import file_request
from tests.support.subprocesses import settings_in_subprocess as support_settings_in_subprocess
from tests.support.tampering import tamper_event
from worker.keeper import Keeper, keeper_beat
from worker.rq_worker import PortalWorker

DAY = 86400


@pytest.fixture
def trail(alice, bob, frank):
    """Three requests with decisions, and an anchor: chains of several events."""
    first = file_request(
        user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="one"
    )
    workflow.approve(first, user=bob, comment="ok")
    second = file_request(
        user=frank, task="deleteFile", target_host="h-2", params={"path": "C:\\x"}, justification="two"
    )
    workflow.reject(second, user=bob, comment="no")
    audit_chain.take_anchor()
    third = file_request(
        user=alice, task="isolateHost", target_host="h-3", params={"action": 0}, justification="three"
    )
    return [first, second, third]


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def change_filed_message(request) -> RequestEvent:
    """Rewrite the FILED event's message behind the application's back; its HMAC no longer matches."""
    filed = request.events.get(kind="filed")
    tamper_event("UPDATE responses_requestevent SET message = %s WHERE id = %s", ["nothing to see", filed.pk])
    return filed


def changed_problem(event: RequestEvent, request) -> str:
    return (
        f"event seq {event.seq} (id {event.pk}, request {request.uuid}, filed): "
        "its content was changed after it was written (or it was hashed with another key)"
    )


def age(row: ChainVerification, seconds: int) -> None:
    ChainVerification.objects.filter(pk=row.pk).update(
        started_at=timezone.now() - dt.timedelta(seconds=seconds + 1),
        finished_at=timezone.now() - dt.timedelta(seconds=seconds),
    )


# --- "Verify now" -----------------------------------------------------------------------------


def test_verify_now_keeps_an_intact_verification_with_the_reports_counts(client, login, dave, trail):
    login(client, dave)
    expected = audit_chain.verify()

    response = client.post("/audit/chain/")

    assert response.status_code == 302 and response["Location"] == "/audit/chain/"
    row = ChainVerification.objects.get()
    assert (row.source, row.user, row.username, row.intact) == (VerificationSource.USER, dave, "dave", True)
    counts = (row.events, row.request_chains, row.account_events, row.anchors, row.unanchored)
    assert counts == (
        expected.events,
        expected.request_chains,
        expected.account_events,
        expected.anchors,
        expected.unanchored,
    )
    assert (row.events, row.request_chains, row.anchors, row.unanchored) == (RequestEvent.objects.count(), 3, 1, 1)
    assert row.account_events == AccountEvent.objects.count() > 0
    assert row.latest_anchor == AuditAnchor.objects.get().created_at
    assert (row.problems, row.problem_count) == ([], 0)
    assert row.started_at <= row.finished_at

    page = text(client.get("/audit/chain/"))
    when = timezone.localtime(row.finished_at).strftime("%Y-%m-%d %H:%M:%S")
    assert f"Last verification: {when} UTC by dave:" in page
    assert '<span class="badge badge-green" id="chain-verdict">Intact</span>' in page
    assert f"Checked: request chains 3 (events {row.events}), account events {row.account_events}, anchors 1." in page
    assert "an indicator, not evidence" in page and 'id="verification-overdue"' not in page


def test_verify_now_after_tampering_keeps_broken_with_the_problem_in_the_reports_words(
    client, login, dave, trail, postgres
):
    filed = change_filed_message(trail[1])
    login(client, dave)

    client.post("/audit/chain/")

    row = ChainVerification.objects.get()
    assert row.intact is False
    assert row.problems == [changed_problem(filed, trail[1])] and row.problem_count == 1
    page = text(client.get("/audit/chain/"))
    assert '<span class="badge badge-red" id="chain-verdict">Broken</span>' in page
    assert changed_problem(filed, trail[1]) in page
    # The auditors' request list says so in its one line, beside the JSON-lines export.
    listing = text(client.get("/requests/"))
    when = timezone.localtime(row.finished_at).strftime("%Y-%m-%d %H:%M")
    assert f"Audit chain: last verified {when} UTC — broken</a>" in listing
    assert listing.index('id="audit-export"') < listing.index('id="audit-chain"')


def test_a_verification_keeps_the_first_problems_and_counts_the_rest(client, login, dave, alice, postgres):
    many = ChainVerification.MAX_PROBLEMS + 3
    for number in range(many):
        file_request(
            user=alice, task="isolateHost", target_host=f"h-{number}", params={"action": 1}, justification="x"
        )
    tamper_event("UPDATE responses_requestevent SET message = %s WHERE kind = %s", ["nothing to see", "filed"])
    login(client, dave)

    client.post("/audit/chain/")

    row = ChainVerification.objects.get()
    assert (row.intact, row.problem_count, len(row.problems), row.more_problems) == (
        False,
        many,
        ChainVerification.MAX_PROBLEMS,
        3,
    )
    assert all("its content was changed after it was written" in problem for problem in row.problems)
    assert "and 3 more problems" in text(client.get("/audit/chain/"))


def test_the_kept_record_holds_no_key_or_keyed_hash(client, login, dave, trail):
    login(client, dave)
    client.post("/audit/chain/")

    kept = serializers.serialize("json", ChainVerification.objects.all())
    assert django_settings.AUDIT_CHAIN_KEY not in kept
    for digest in RequestEvent.objects.values_list("hash", flat=True):
        assert digest not in kept


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_analysts_and_approvers_are_refused_and_nothing_is_kept(client, login, alice, bob, trail, who):
    login(client, {"alice": alice, "bob": bob}[who])

    for method, url in (("post", "/audit/chain/"), ("get", "/audit/chain/"), ("get", "/audit/chain/history/")):
        response = getattr(client, method)(url)
        assert response.status_code == 403, (method, url)
        assert "Only auditors verify the audit chain." in text(response)

    assert ChainVerification.objects.count() == 0
    if who == "bob":  # an approver sees every request, but not the auditors' line
        assert 'id="audit-chain"' not in text(client.get("/requests/"))


def test_anonymous_visitors_are_sent_to_log_in_and_nothing_is_kept(client, trail):
    response = client.post("/audit/chain/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert ChainVerification.objects.count() == 0


# --- The pages: the lead, the flag, the history, the auditors' line ---------------------------------


def test_a_verification_older_than_twice_the_interval_is_flagged(client, login, dave, trail, settings):
    settings.AUDIT_VERIFY_INTERVAL = DAY
    _report, row = chain_verification.verify_and_record(source=VerificationSource.SCHEDULE)
    login(client, dave)

    age(row, 2 * DAY - 60)  # within twice the interval: not flagged
    assert 'id="verification-overdue"' not in text(client.get("/audit/chain/"))
    assert 'id="audit-chain-overdue"' not in text(client.get("/requests/"))

    age(row, 3 * DAY + 60)
    page = text(client.get("/audit/chain/"))
    assert "by the scheduled check:" in page
    assert "Not verified for 3 days: the scheduled check should run every 1 day. Is a worker running?" in page
    assert "not verified for 3 days</span>" in text(client.get("/requests/"))
    assert "not verified for 3 days</span>" in text(client.get("/"))  # where auditors land

    settings.AUDIT_VERIFY_INTERVAL = 0  # no schedule: an old verification is not overdue
    assert 'id="verification-overdue"' not in text(client.get("/audit/chain/"))
    assert "off (AUDIT_VERIFY_INTERVAL=0)" in text(client.get("/audit/chain/"))


def test_no_verification_at_all_is_flagged(client, login, dave, trail, settings):
    settings.AUDIT_VERIFY_INTERVAL = 0
    login(client, dave)

    assert "Never verified: nobody has verified the chains yet." in text(client.get("/audit/chain/"))
    assert "Audit chain: never verified</a>" in text(client.get("/requests/"))


def test_the_history_lists_the_last_twenty_newest_first_and_keeps_a_deleted_users_name(
    client, login, dave, trail, make_auditor
):
    gone = make_auditor("erin")
    chain_verification.verify_and_record(source=VerificationSource.USER, user=gone)
    for _ in range(chain_verification.HISTORY + 2):
        chain_verification.verify_and_record(source=VerificationSource.SCHEDULE)
    newest, _ = chain_verification.verify_and_record(source=VerificationSource.USER, user=dave)
    login(client, dave)

    page = text(client.get("/audit/chain/"))
    assert 'href="/audit/chain/history/" id="verification-history"' in page
    history = client.get("/audit/chain/history/")
    rows = history.context["verifications"]
    assert len(rows) == chain_verification.HISTORY
    assert rows[0].username == "dave" and [row.finished_at for row in rows] == sorted(
        (row.finished_at for row in rows), reverse=True
    )
    assert text(history).count("<tr>") == chain_verification.HISTORY + 1  # and the header

    erin = ChainVerification.objects.get(username="erin")
    gone.delete()
    erin.refresh_from_db()
    assert (erin.user, erin.username, erin.who()) == (None, "erin", "erin")


@pytest.fixture
def make_auditor(db):
    from accounts import roles
    from tests.fixtures.accounts import make_user

    return lambda name: make_user(name, roles.AUDITORS)


# --- manage.py verify_audit --------------------------------------------------------------------


def run_command(*args: str) -> str:
    out = io.StringIO()
    call_command("verify_audit", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_command_keeps_its_verification_and_its_output(trail):
    output = run_command()

    assert output.startswith(f"audit chain intact: {RequestEvent.objects.count()} events verified in 3 request chains, ")
    row = ChainVerification.objects.get()
    assert (row.source, row.user, row.username, row.intact, row.request_chains) == (
        VerificationSource.COMMAND,
        None,
        "",
        True,
        3,
    )
    assert row.who() == "manage.py verify_audit"


def test_the_command_keeps_a_broken_verification_and_still_exits_1(trail, postgres):
    filed = change_filed_message(trail[0])

    with pytest.raises(CommandError) as failure:
        run_command()

    assert failure.value.returncode == 1
    assert str(failure.value) == f"broken chain at {changed_problem(filed, trail[0])}"
    row = ChainVerification.objects.get()
    assert (row.intact, row.problems) == (False, [changed_problem(filed, trail[0])])


def test_the_command_against_a_kept_export_keeps_the_comparisons_problems(trail, tmp_path, postgres):
    kept = tmp_path / "siem.jsonl"
    call_command("export_audit", "--output", str(kept))
    run_command("--against", str(kept))
    assert ChainVerification.objects.get().against == str(kept)
    # Someone holding the key re-signs a changed event: the chains look intact, the SIEM's copy does not.
    filed = trail[1].events.get(kind="filed")
    filed.message = "nothing to see"
    digest = audit_chain.link_hash(filed.prev_hash, filed.chain, filed.seq, filed.content())
    tamper_event("UPDATE responses_requestevent SET message = %s, hash = %s WHERE id = %s", [filed.message, digest, filed.pk])
    later = trail[1].events.filter(seq__gt=filed.seq).order_by("seq")
    prev = digest
    for event in later:
        prev_digest = audit_chain.link_hash(prev, event.chain, event.seq, event.content())
        tamper_event("UPDATE responses_requestevent SET prev_hash = %s, hash = %s WHERE id = %s", [prev, prev_digest, event.pk])
        prev = prev_digest

    with pytest.raises(CommandError) as failure:
        run_command("--against", str(kept))

    assert failure.value.returncode == 1
    row = ChainVerification.objects.order_by("-id").first()
    assert row.intact is False
    assert f"event seq 1 of chain {trail[1].uuid}: the database's differs from the export's" in row.problems


def test_the_command_refuses_an_unreadable_export_and_keeps_nothing(trail, tmp_path):
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n")

    with pytest.raises(CommandError) as failure:
        run_command("--against", str(junk))

    assert failure.value.returncode == 2 and "cannot read it as JSON lines" in str(failure.value)
    assert ChainVerification.objects.count() == 0


# --- The scheduled check ----------------------------------------------------------------------------


def run_due_jobs(queue) -> int:
    """What a worker's keeper and the worker do: move the due jobs to the queue, then run them."""
    keeper = Keeper([queue.name])
    moved = keeper._move_due_jobs(queue)
    keeper.release()  # the schedule's lease, so that the next call's keeper may move jobs too
    PortalWorker([queue], connection=queue.connection).work(burst=True, with_scheduler=False)
    return moved


def scheduled_at(queue) -> dt.datetime | None:
    score = queue.connection.zscore(queue.scheduled_job_registry.key, chain_verification.JOB_ID)
    return None if score is None else dt.datetime.fromtimestamp(score, dt.UTC)


def test_the_keepers_beat_runs_the_check_when_due_and_then_not_until_the_interval_has_passed(
    trail, settings, ksc_queue
):
    settings.AUDIT_VERIFY_INTERVAL = DAY

    keeper_beat()  # never verified: due now
    assert abs((scheduled_at(ksc_queue) - timezone.now()).total_seconds()) < 5
    assert run_due_jobs(ksc_queue) == 1

    row = ChainVerification.objects.get()
    assert (row.source, row.user, row.username, row.intact) == (VerificationSource.SCHEDULE, None, "", True)
    assert row.who() == "the scheduled check"
    # The job put itself back for the next due time, a day after this verification.
    assert abs((scheduled_at(ksc_queue) - (row.finished_at + dt.timedelta(days=1))).total_seconds()) < 5
    keeper_beat()
    keeper_beat()
    assert run_due_jobs(ksc_queue) == 0
    assert ChainVerification.objects.count() == 1
    assert ksc_queue.scheduled_job_registry.get_job_ids().count(chain_verification.JOB_ID) == 1

    # A day later (the clock moved for the database row and the schedule alike) it runs again, once.
    age(row, DAY + 1)
    ksc_queue.connection.zadd(ksc_queue.scheduled_job_registry.key, {chain_verification.JOB_ID: time.time() - 1})
    assert run_due_jobs(ksc_queue) == 1
    assert ChainVerification.objects.filter(source=VerificationSource.SCHEDULE).count() == 2


def test_the_check_does_not_run_before_it_is_due(trail, settings, ksc_queue):
    settings.AUDIT_VERIFY_INTERVAL = DAY
    _report, manual = chain_verification.verify_and_record(source=VerificationSource.USER)
    age(manual, 3600)  # an auditor verified an hour ago
    manual.refresh_from_db()
    next_due = manual.finished_at + dt.timedelta(days=1)

    keeper_beat()

    assert abs((scheduled_at(ksc_queue) - next_due).total_seconds()) < 5
    assert run_due_jobs(ksc_queue) == 0
    # A job that runs early anyway (moved by hand, or a stale copy) verifies nothing and waits again.
    assert chain_verification.check_periodically() == {"verified": False, "intact": None}
    assert ChainVerification.objects.count() == 1
    assert abs((scheduled_at(ksc_queue) - next_due).total_seconds()) < 5

    age(manual, DAY + 60)  # now it is due
    assert chain_verification.check_periodically() == {"verified": True, "intact": True}
    assert ChainVerification.objects.filter(source=VerificationSource.SCHEDULE).count() == 1
    assert chain_verification.check_periodically() == {"verified": False, "intact": None}  # once
    assert ChainVerification.objects.count() == 2


def test_the_check_runs_once_while_another_worker_holds_it(trail, settings, ksc_queue, postgres):
    settings.AUDIT_VERIFY_INTERVAL = DAY
    other = connections.create_connection("default")  # another worker's database session
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [chain_verification._LOCK])
            assert cursor.fetchone()[0] is True
        assert chain_verification.check_if_due() is None
        assert ChainVerification.objects.count() == 0
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [chain_verification._LOCK])
    finally:
        other.close()
    assert chain_verification.check_if_due().intact is True
    assert ChainVerification.objects.count() == 1


def test_the_scheduled_check_after_tampering_keeps_broken(trail, settings, ksc_queue, postgres):
    settings.AUDIT_VERIFY_INTERVAL = DAY
    filed = change_filed_message(trail[2])

    keeper_beat()
    run_due_jobs(ksc_queue)

    row = ChainVerification.objects.get()
    assert (row.source, row.intact, row.problems) == (VerificationSource.SCHEDULE, False, [changed_problem(filed, trail[2])])


def test_an_interval_of_0_schedules_no_check(trail, settings, ksc_queue):
    settings.AUDIT_VERIFY_INTERVAL = 0

    keeper_beat()

    assert scheduled_at(ksc_queue) is None
    assert chain_verification.check_if_due() is None
    assert ChainVerification.objects.count() == 0


def test_the_keeper_puts_the_check_back_after_redis_lost_it(trail, settings, ksc_queue):
    settings.AUDIT_VERIFY_INTERVAL = DAY
    keeper_beat()
    ksc_queue.connection.flushdb()

    keeper_beat()

    assert scheduled_at(ksc_queue) is not None
    assert django_rq.get_queue(jobs.QUEUE).fetch_job(chain_verification.JOB_ID).timeout == chain_verification.JOB_TIMEOUT


# --- AUDIT_VERIFY_INTERVAL --------------------------------------------------------------------------


def settings_in_subprocess(extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """manage.py in a fresh process with these variables, in DEBUG (no production secrets needed)."""
    return support_settings_in_subprocess({"DEBUG": "true", **extra}, *args)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "AUDIT_VERIFY_INTERVAL must be at least 0, not -1."),
        ("1d", "AUDIT_VERIFY_INTERVAL must be a whole number, not '1d'."),
        ("86400.5", "AUDIT_VERIFY_INTERVAL must be a whole number, not '86400.5'."),
        ("30", "AUDIT_VERIFY_INTERVAL must be 0 (no scheduled check) or at least 60 seconds, not 30."),
    ],
)
def test_a_bad_interval_is_refused_with_a_clear_message(value, message):
    result = settings_in_subprocess({"AUDIT_VERIFY_INTERVAL": value})
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-500:]


def test_the_interval_defaults_to_a_day_and_0_turns_it_off():
    show = "from django.conf import settings; print(settings.AUDIT_VERIFY_INTERVAL)"
    default = settings_in_subprocess({}, "shell", "-c", show)
    off = settings_in_subprocess({"AUDIT_VERIFY_INTERVAL": "0"}, "shell", "-c", show)
    assert default.returncode == 0 and off.returncode == 0, default.stderr + off.stderr
    assert json.loads(default.stdout.strip().splitlines()[-1]) == DAY
    assert json.loads(off.stdout.strip().splitlines()[-1]) == 0
