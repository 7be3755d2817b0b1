"""Who hears what, delivered through a real SMTP server and a real HTTP server taking Apprise's JSON.

Every event of issue 16, in English and in Japanese: a request waiting for
approval (approvers who may decide it, and the chat channel), approved,
rejected with the comment, expired, failed with the error, and the one
reminder (the outcome on the host: tests/test_notifications_outcomes.py, from
the real sweep). Then: a failing channel is retried and recorded without touching
the request; nothing configured sends nothing.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from notifications import jobs
from notifications.models import DeliveryStatus, Notification, NotificationKind, NotificationPreference
from responses import submission, workflow
from responses.models import EventKind, ResponseRequest, Status
from tests.fixtures.notifications import file, run_notify_worker

# A phrase of every message, and its Japanese: proof of the language each recipient got.
OPEN = {"en": "Open the request", "ja": "依頼を開く"}


@pytest.fixture
def commit():
    """Run a workflow step; its transaction really commits (transactional_db), so its dispatch is queued."""

    def run(action):
        return action()

    return run


def speak(language, *users, settings):
    for user in users:
        NotificationPreference.objects.update_or_create(user=user, defaults={"language": language})
    settings.NOTIFY_LANGUAGE = language


@pytest.mark.parametrize("language", ["en", "ja"])
class TestWhoHearsWhat:
    def test_a_waiting_request_reaches_every_approver_who_may_decide_it_and_the_channel(
        self, language, notifying, smtp_server, webhook, notify_queue, commit, alice, bob, carol, dave, root
    ):
        speak(language, alice, bob, carol, dave, root, settings=notifying)
        rr = commit(lambda: file(alice))
        run_notify_worker(notify_queue)

        # bob and carol may decide it; alice asked (no self-approval), dave audits, root administers.
        assert sorted(m["To"] for m in smtp_server.mails) == ["bob@example.test", "carol@example.test"]
        mail = smtp_server.to("bob@example.test")[0]
        assert "PAYROLL-01" in mail["Subject"]
        body = mail.get_content()
        assert OPEN[language] in body
        assert f"https://edr.example.test/requests/{rr.uuid}/" in body
        assert "alice" in body and "KUMA alert 4711" in body
        assert mail["Auto-Submitted"] == "auto-generated"
        [post] = webhook.posts
        assert "PAYROLL-01" in post["title"] and OPEN[language] in post["message"]
        assert post["type"] == "warning"
        rows = Notification.objects.filter(request=rr).order_by("label")
        assert [(n.label, n.status) for n in rows] == [
            ("JSON", DeliveryStatus.DELIVERED),
            ("bob", DeliveryStatus.DELIVERED),
            ("carol", DeliveryStatus.DELIVERED),
        ]
        assert {n.kind for n in rows} == {NotificationKind.APPROVAL_NEEDED}

    @pytest.mark.parametrize(
        ("decide", "comment"),
        [(workflow.approve, "Go ahead"), (workflow.reject, "Wrong host: PAYROLL-02 beacons, not 01")],
        ids=["approval", "rejection"],
    )
    def test_the_requester_learns_of_the_decision_with_the_comment(
        self, language, notifying, smtp_server, webhook, notify_queue, commit, alice, bob, decide, comment
    ):
        speak(language, alice, bob, settings=notifying)
        rr = commit(lambda: file(alice))
        run_notify_worker(notify_queue)
        smtp_server.mails.clear(), webhook.posts.clear()
        commit(lambda: decide(rr.uuid, user=bob, comment=comment))
        run_notify_worker(notify_queue)

        [mail] = smtp_server.mails
        assert mail["To"] == "alice@example.test"
        body = mail.get_content()
        assert comment in body and "bob" in body
        assert OPEN[language] in body
        assert webhook.posts == []  # decisions are the requester's news, not the channel's

    def test_the_requester_learns_of_an_expiry(
        self, language, notifying, smtp_server, webhook, notify_queue, commit, alice, bob
    ):
        speak(language, alice, settings=notifying)
        rr = commit(lambda: file(alice))
        run_notify_worker(notify_queue)
        smtp_server.mails.clear(), webhook.posts.clear()
        ResponseRequest.objects.filter(pk=rr.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        commit(workflow.expire_overdue)
        run_notify_worker(notify_queue)

        [mail] = smtp_server.mails
        assert mail["To"] == "alice@example.test" and OPEN[language] in mail.get_content()
        assert Notification.objects.get(request=rr, kind=NotificationKind.EXPIRED).status == DeliveryStatus.DELIVERED

    def test_a_failure_reaches_the_requester_and_the_channel_with_the_error(
        self, language, notifying, smtp_server, webhook, notify_queue, commit, alice, frank
    ):
        speak(language, alice, settings=notifying)
        rr = commit(lambda: file(alice, "fetch the dropper", task="getFile", params={"path": "C:\\evil.exe"}))
        claimed, attempt = submission.claim_for_submission(rr.uuid)
        commit(
            lambda: submission.submission_failed(
                rr.uuid, attempt, "KSC refused the incident: access denied (PxgError 1142)", will_retry=False, code=1142
            )
        )
        run_notify_worker(notify_queue)

        [mail] = smtp_server.mails
        assert mail["To"] == "alice@example.test"
        assert "PxgError 1142" in mail.get_content() and OPEN[language] in mail.get_content()
        [post] = webhook.posts
        assert "PxgError 1142" in post["message"] and post["type"] == "failure"
        # filing a task that needs no approval told nobody: nobody had to act
        assert not Notification.objects.filter(request=rr, kind=NotificationKind.APPROVED).exists()

    def test_one_reminder_for_a_request_still_waiting(
        self, language, notifying, smtp_server, webhook, notify_queue, commit, alice, bob
    ):
        speak(language, bob, settings=notifying)
        notifying.APPROVAL_REMIND_AFTER = 600
        rr = commit(lambda: file(alice))
        run_notify_worker(notify_queue)
        smtp_server.mails.clear(), webhook.posts.clear()

        assert jobs.remind_overdue(rr.created_at + dt.timedelta(seconds=599)) == 0
        assert jobs.remind_overdue(rr.created_at + dt.timedelta(seconds=601)) == 1
        assert jobs.remind_overdue(rr.created_at + dt.timedelta(seconds=900)) == 0  # one, not one a minute
        run_notify_worker(notify_queue)

        [mail] = smtp_server.mails
        assert mail["To"] == "bob@example.test" and OPEN[language] in mail.get_content()
        [post] = webhook.posts
        assert str(rr.uuid) in post["message"]


def test_the_reminder_comes_after_half_the_approval_window_by_default(notifying, alice, bob, commit, notify_queue):
    notifying.APPROVAL_TTL = 3600
    rr = commit(lambda: file(alice))
    assert abs(jobs.remind_after(rr).total_seconds() - 1800) < 1
    notifying.APPROVAL_REMIND_AFTER = 0
    assert jobs.remind_after(rr) is None
    assert jobs.remind_overdue(timezone.now() + dt.timedelta(hours=2)) == 0


def test_a_user_who_turned_a_kind_off_gets_no_mail_of_it(
    notifying, smtp_server, webhook, notify_queue, commit, alice, bob, carol
):
    NotificationPreference.objects.create(user=carol, email_off=[NotificationKind.APPROVAL_NEEDED])
    commit(lambda: file(alice))
    run_notify_worker(notify_queue)
    assert [m["To"] for m in smtp_server.mails] == ["bob@example.test"]
    assert len(webhook.posts) == 1


class TestDelivery:
    def test_a_failing_channel_is_retried_and_recorded_without_touching_the_request(
        self, notifying, smtp_server, webhook, notify_queue, commit, alice, bob
    ):
        webhook.statuses = [403, 403, 403]
        rr = commit(lambda: file(alice))
        events_before = list(rr.events.values_list("kind", flat=True))
        run_notify_worker(notify_queue)

        chat = Notification.objects.get(request=rr, channel="chat")
        assert (chat.status, chat.attempts, chat.last_error) == (DeliveryStatus.FAILED, 3, "HTTP 403")
        assert chat.outcome == "failed: HTTP 403"
        assert Notification.objects.get(request=rr, label="bob").status == DeliveryStatus.DELIVERED
        rr.refresh_from_db()
        assert rr.status == Status.PENDING_APPROVAL
        assert list(rr.events.values_list("kind", flat=True)) == events_before

    def test_a_channel_that_recovers_delivers_on_a_later_try(
        self, notifying, smtp_server, webhook, notify_queue, commit, alice, bob
    ):
        webhook.statuses = [503]
        rr = commit(lambda: file(alice))
        run_notify_worker(notify_queue)
        chat = Notification.objects.get(request=rr, channel="chat")
        assert (chat.status, chat.attempts, chat.last_error) == (DeliveryStatus.DELIVERED, 2, "")
        assert len(webhook.posts) == 1

    def test_a_refusing_mail_server_is_recorded(self, notifying, smtp_server, notify_queue, commit, alice, bob):
        smtp_server.refuse = True
        rr = commit(lambda: file(alice))
        run_notify_worker(notify_queue)
        mail = Notification.objects.get(request=rr, label="bob")
        assert mail.status == DeliveryStatus.FAILED and mail.attempts == 3
        assert mail.last_error.startswith("SMTP refused the recipient (550")

    def test_an_unreachable_mail_server_does_not_fail_the_workflow_step(
        self, notifying, notify_queue, commit, alice, bob
    ):
        notifying.EMAIL_PORT = 1  # nothing listens there
        rr = commit(lambda: file(alice))
        run_notify_worker(notify_queue)
        done = commit(lambda: workflow.approve(rr.uuid, user=bob))
        assert done.status in (Status.APPROVED, Status.QUEUED)
        run_notify_worker(notify_queue)
        told = Notification.objects.filter(request=rr, channel="email").order_by("created_at")
        assert [(n.label, n.kind, n.status) for n in told] == [
            ("bob", NotificationKind.APPROVAL_NEEDED, DeliveryStatus.FAILED),
            ("alice", NotificationKind.APPROVED, DeliveryStatus.FAILED),
        ]
        assert told[0].last_error.startswith("SMTP: ")

    def test_redis_down_at_the_commit_loses_nothing_the_sweep_dispatches_it(
        self, notifying, smtp_server, notify_queue, commit, alice, bob, monkeypatch
    ):
        monkeypatch.setattr(jobs, "_queue", lambda: (_ for _ in ()).throw(ConnectionError("Redis is down")))
        rr = commit(lambda: file(alice))  # the step succeeds although the dispatch could not be queued
        monkeypatch.undo()
        assert not Notification.objects.filter(request=rr).exists()
        assert jobs.catch_up(timezone.now() + dt.timedelta(minutes=1))
        run_notify_worker(notify_queue)
        assert [m["To"] for m in smtp_server.mails] == ["bob@example.test"]
        assert jobs.catch_up(timezone.now() + dt.timedelta(minutes=1)) == 0  # once

    def test_an_event_dispatched_twice_sends_once(self, notifying, smtp_server, notify_queue, commit, alice, bob):
        rr = commit(lambda: file(alice))
        event = rr.events.get(kind=EventKind.FILED)
        assert jobs.dispatch_event(event.pk) == 2  # bob and the channel, before the queued job runs
        run_notify_worker(notify_queue)  # the queued job finds it dispatched
        assert len(smtp_server.mails) == 1


def test_nothing_configured_sends_nothing(transactional_db, settings, notify_queue, commit, alice, bob):
    settings.EMAIL_HOST = ""
    settings.NOTIFY_URLS = []
    rr = commit(lambda: file(alice))
    assert notify_queue.count == 0
    assert not Notification.objects.filter(request=rr).exists()
    assert jobs.sweep() == {"reminded": 0, "snoozes_ended": 0, "caught_up": 0, "requeued": 0, "escalated": 0}


def test_a_message_whose_job_was_lost_is_sent_by_the_sweep(notifying, smtp_server, notify_queue, alice, bob):
    rr = file(alice)
    # The dispatch ran, then Redis lost the delivery jobs; say a worker also died mid-send of one.
    notify_queue.empty()
    jobs.dispatch_event(rr.events.get(kind=EventKind.FILED).pk)
    notify_queue.empty()
    Notification.objects.filter(request=rr, channel="chat").update(status=DeliveryStatus.SENDING)
    later = timezone.now() + dt.timedelta(minutes=5)
    assert jobs.requeue_lost(later) == 2
    run_notify_worker(notify_queue)
    assert set(Notification.objects.filter(request=rr).values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
    assert [m["To"] for m in smtp_server.mails] == ["bob@example.test"]
    assert jobs.requeue_lost(later) == 0


def test_a_bug_while_sending_is_recorded_and_retried_like_a_refusal(
    notifying, smtp_server, notify_queue, alice, bob, monkeypatch
):
    from notifications import channels

    real, calls = channels.send_email, []

    def flaky(*args):
        calls.append(args)
        if len(calls) == 1:
            raise KeyError("a bug")
        return real(*args)

    monkeypatch.setattr(channels, "send_email", flaky)
    notifying.NOTIFY_URLS = []
    rr = file(alice)
    run_notify_worker(notify_queue)
    note = Notification.objects.get(request=rr)
    assert (note.status, note.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(smtp_server.mails) == 1
