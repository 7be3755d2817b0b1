"""A mail server down longer than the quick tries: the message waits and goes when it comes back.

The quick tries (NOTIFY_TRIES, NOTIFY_BACKOFF doubling) once were all: after them a message was
failed for good and the sweep never looked again, so a night without SMTP lost every "approval
needed" of the night. Now the sweep tries it again, the back-off still doubling but capped at an
hour, until NOTIFY_GIVE_UP_AFTER has passed since it was written; then it is failed and the
administrators see it on every page. Real SMTP server, real notify queue and worker.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from notifications import jobs
from notifications.models import DeliveryStatus, Notification
from responses.models import EventKind
from tests.fixtures.notifications import file, run_notify_worker

DAY = 24 * 3600


def test_a_message_outlives_a_mail_server_down_longer_than_the_quick_tries(
    notifying, smtp_server, notify_queue, alice, bob
):
    notifying.NOTIFY_URLS = []
    notifying.NOTIFY_GIVE_UP_AFTER = DAY
    notifying.NOTIFY_BACKOFF = 30
    notifying.EMAIL_PORT = 1  # the mail server is down: nothing listens there
    rr = file(alice)
    # The three quick tries (RQ's Retry, backoff skipped by running the schedule at once).
    for _ in range(3):
        run_notify_worker(notify_queue)
        for job_id in notify_queue.scheduled_job_registry.get_job_ids():
            notify_queue.scheduled_job_registry.remove(job_id)
            notify_queue.enqueue_job(notify_queue.fetch_job(job_id))
    note = Notification.objects.get(request=rr)
    assert (note.status, note.attempts) == (DeliveryStatus.RETRYING, 3)  # not failed: it waits
    assert note.last_error.startswith("SMTP: ")
    # Its next try: the back-off goes on doubling after the quick tries (30 s × 2² after try 3).
    wait = (note.next_try_at - timezone.now()).total_seconds()
    assert 110 <= wait <= 120

    # The sweep leaves it alone until then...
    assert jobs.requeue_lost(note.next_try_at - dt.timedelta(seconds=1)) == 0
    # ...and past it tries once more, while the server is still down: it waits again, longer.
    assert jobs.requeue_lost(note.next_try_at + dt.timedelta(seconds=1)) == 1
    run_notify_worker(notify_queue)
    note.refresh_from_db()
    assert (note.status, note.attempts) == (DeliveryStatus.RETRYING, 4)
    assert 230 <= (note.next_try_at - timezone.now()).total_seconds() <= 240
    assert smtp_server.mails == []

    # The mail server is back: the next round delivers it, once.
    notifying.EMAIL_PORT = smtp_server.port
    assert jobs.requeue_lost(note.next_try_at + dt.timedelta(seconds=1)) == 1
    run_notify_worker(notify_queue)
    note.refresh_from_db()
    assert (note.status, note.attempts, note.next_try_at, note.last_error) == (DeliveryStatus.DELIVERED, 5, None, "")
    assert [mail["To"] for mail in smtp_server.mails] == ["bob@example.test"]
    assert jobs.requeue_lost(timezone.now() + dt.timedelta(days=2)) == 0


def test_the_back_off_after_the_quick_tries_is_capped_at_an_hour(settings):
    settings.NOTIFY_BACKOFF = 30
    now = timezone.now()
    waits = [(jobs.later_try(attempts, now) - now).total_seconds() for attempts in (1, 5, 7, 8, 30, 400)]
    assert waits == [30, 480, 1920, 3600, 3600, 3600]


def test_after_give_up_after_the_message_is_failed_and_the_administrators_see_it(
    notifying, notify_queue, alice, bob, root, client, login
):
    notifying.NOTIFY_URLS = []
    notifying.NOTIFY_GIVE_UP_AFTER = DAY
    notifying.EMAIL_PORT = 1
    notifying.NOTIFY_TRIES = 1
    rr = file(alice)
    jobs.dispatch_event(rr.events.get(kind=EventKind.FILED).pk)  # the message is written, its job queued
    note = Notification.objects.get(request=rr)
    # Written 25 hours ago (a mail server down for a day): this try is its last.
    Notification.objects.filter(pk=note.pk).update(created_at=timezone.now() - dt.timedelta(hours=25))
    run_notify_worker(notify_queue)
    note.refresh_from_db()
    assert (note.status, note.next_try_at) == (DeliveryStatus.FAILED, None)
    assert jobs.requeue_lost(timezone.now() + dt.timedelta(days=1)) == 0  # given up: nobody tries again

    page = login(client, root).get("/").content.decode()
    assert 'id="undelivered-notifications"' in page
    assert "1 message could not be delivered in the last 7 days" in page
    assert "Latest: to bob: SMTP: " in page
    assert "/admin/notifications/notification/?status__exact=failed" in page


def test_a_waiting_message_is_shown_to_administrators_and_to_nobody_else(
    notifying, notify_queue, alice, bob, dave, root, client, login
):
    notifying.NOTIFY_URLS = []
    notifying.NOTIFY_GIVE_UP_AFTER = DAY
    notifying.EMAIL_PORT = 1
    notifying.NOTIFY_TRIES = 1
    file(alice)
    run_notify_worker(notify_queue)
    assert Notification.objects.get().status == DeliveryStatus.RETRYING

    for user in (alice, bob, dave):
        client.logout()
        page = login(client, user).get("/").content.decode()
        assert "undelivered-notifications" not in page, user.username
    client.logout()
    page = login(client, root).get("/").content.decode()
    assert "1 message is waiting for its mail server or channel and will be tried again." in page
    assert "could not be delivered" not in page


def test_nothing_undelivered_shows_nothing(notifying, root, client, login):
    page = login(client, root).get("/").content.decode()
    assert "undelivered-notifications" not in page
