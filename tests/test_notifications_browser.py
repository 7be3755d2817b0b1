"""The self-refreshing approval queue in Chromium: it reloads when a request arrives, never under a typing approver."""

from __future__ import annotations

import re

import pytest

from notifications.templatetags import notify_tags
from tests.fixtures.notifications import file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def quick_polls(monkeypatch):
    monkeypatch.setattr(notify_tags, "POLL_SECONDS", 1)


def test_the_queue_refreshes_itself_but_not_while_an_approver_types(quick_polls, log_in, alice, frank, bob):
    page = log_in(bob)
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto("/approvals/")
    assert page.locator(".queue-entry").count() == 0

    first = file(alice, justification="Beacon from PAYROLL-01")
    page.wait_for_selector(f"#q-{first.uuid}", timeout=10_000)  # the page reloaded by itself
    assert page.locator("#waiting-count").inner_text() == "1"

    page.fill(f"#comment-{first.uuid}", "Checking with the host owner")
    second = file(frank, justification="Beacon from PAYROLL-02")
    page.wait_for_selector("#live-changed", timeout=10_000)  # offered, not forced
    assert page.locator(f"#q-{second.uuid}").count() == 0
    assert page.input_value(f"#comment-{first.uuid}") == "Checking with the host owner"
    assert page.locator("#waiting-count").inner_text() == "2"  # the count follows without a reload

    page.click("#live-changed button")
    page.wait_for_selector(f"#q-{second.uuid}")
    assert [e for e in errors if re.search(r"Content Security Policy|Refused", e)] == []
