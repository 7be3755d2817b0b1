"""The isolation's end reaches people (issue 28, point 3): the warning before the end, in English and Japanese.

Real parts: the filing path, the simulator over HTTPS, the outcome sweep, the keeper's duty with an
injected clock, and the real `notify` worker delivering to an SMTP server.
"""

from __future__ import annotations

import datetime as dt

import pytest

from notifications.models import Notification, NotificationKind, NotificationPreference
from responses import isolation
from tests.fixtures.notifications import run_notify_worker
from tests.support.isolation import isolated

SUBJECT = {"en": "Isolation ends soon", "ja": "隔離がまもなく終了"}
ACTIONS = {"en": "Release now", "ja": "今すぐ解除"}


@pytest.fixture
def warning_stand(notifying, submission, settings):
    settings.KSC_SUBMIT_HOURLY_CAP = 0
    settings.ISOLATION_END_WARNING = 3600
    return submission


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_requester_and_those_who_approved_are_warned_before_the_end(
    warning_stand, smtp_server, notify_queue, alice, bob, carol, language
):
    for user in (alice, bob, carol):
        NotificationPreference.objects.update_or_create(user=user, defaults={"language": language})
    row = isolated(alice, bob, warning_stand, isolate_hours=4)
    isolation.run_due_releases()
    row.refresh_from_db()
    run_notify_worker(notify_queue)
    smtp_server.mails.clear()

    assert isolation.run_due_releases(now=row.release_at - dt.timedelta(minutes=30))["warned"] == 1
    run_notify_worker(notify_queue)
    mails = [mail for mail in smtp_server.mails if SUBJECT[language] in mail["Subject"]]
    assert sorted(mail["To"] for mail in mails) == ["alice@example.test", "bob@example.test"], [
        m["Subject"] for m in smtp_server.mails
    ]
    body = mails[0].get_content()
    assert f"/requests/{row.request.uuid}/" in body
    assert ACTIONS[language] in body, "the message names Extend, Release now and Hold"
    assert f"{row.release_at:%Y-%m-%d %H:%M} UTC" in body
    assert not smtp_server.to("carol@example.test"), "carol neither asked for it nor approved it"

    # Told once per end: another pass says nothing again.
    before = Notification.objects.filter(kind=NotificationKind.ISOLATION_ENDING).count()
    isolation.run_due_releases(now=row.release_at - dt.timedelta(minutes=20))
    run_notify_worker(notify_queue)
    assert Notification.objects.filter(kind=NotificationKind.ISOLATION_ENDING).count() == before


def test_an_extension_asks_the_other_approvers(warning_stand, smtp_server, notify_queue, alice, bob, carol):
    row = isolated(alice, bob, warning_stand, isolate_hours=4)
    isolation.run_due_releases()
    run_notify_worker(notify_queue)
    smtp_server.mails.clear()
    isolation.extend(row, user=bob, data={"isolate_hours": 2}, justification="The attacker is still active")
    run_notify_worker(notify_queue)
    mails = [mail for mail in smtp_server.mails if "Extension of an isolation" in mail["Subject"]]
    assert [mail["To"] for mail in mails] == ["carol@example.test"], "never its asker"
    body = mails[0].get_content()
    assert "The attacker is still active" in body and "New end asked for" in body
