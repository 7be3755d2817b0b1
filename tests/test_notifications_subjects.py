"""An isolation and its release never share a subject (issue 29, point 4): an approver reads which one at a glance."""

from __future__ import annotations

import pytest

from notifications.models import NotificationPreference
from tests.fixtures.notifications import file, run_notify_worker

SUBJECTS = {
    "en": ("Approval needed: Network isolation on PAYROLL-01", "Approval needed: Release of network isolation on PAYROLL-01"),
    "ja": ("の ネットワーク分離", "ネットワーク分離の解除"),
}


@pytest.mark.parametrize("language", ["en", "ja"])
def test_an_isolation_and_its_release_have_different_subjects(language, notifying, smtp_server, notify_queue, alice, bob):
    NotificationPreference.objects.create(user=bob, language=language)
    file(alice, params={"action": 1})
    run_notify_worker(notify_queue)
    [isolation] = smtp_server.to("bob@example.test")
    smtp_server.mails.clear()
    file(alice, params={"action": 0})
    run_notify_worker(notify_queue)
    [release] = smtp_server.to("bob@example.test")
    isolate_words, release_words = SUBJECTS[language]
    assert isolate_words in isolation["Subject"] and release_words not in isolation["Subject"]
    assert release_words in release["Subject"]
    assert isolation["Subject"] != release["Subject"]
