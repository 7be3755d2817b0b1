"""README's "Notifications" lists every message the portal sends, who gets it and when (issue 29)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from notifications.models import NotificationKind

# Each kind of message, and the words of its row in README's table of who hears what. A new kind
# fails here until README says who hears it.
ROWS = {
    NotificationKind.APPROVAL_NEEDED: "a request waits for approval",
    NotificationKind.REMINDER: "it still waits after `APPROVAL_REMIND_AFTER`",
    NotificationKind.APPROVED: "approved, rejected (with the comment), expired",
    NotificationKind.REJECTED: "approved, rejected (with the comment), expired",
    NotificationKind.EXPIRED: "approved, rejected (with the comment), expired",
    NotificationKind.FAILED: "could not be submitted to KSC (with the error)",
    NotificationKind.OUTCOME_COMPLETED: "completed, or completed with a warning, on the host",
    NotificationKind.OUTCOME_WARNING: "completed, or completed with a warning, on the host",
    NotificationKind.OUTCOME_FAILED: "failed on the host (with KSC's reason)",
    NotificationKind.OUTCOME_NO_TASK: "no `[Response]` task appeared",
    NotificationKind.OUTCOME_GONE: "vanished from KSC",
    NotificationKind.ESCALATED: "still pending after its approval SLA",
    NotificationKind.SLA_BREACHED: "still pending after twice its SLA",
    NotificationKind.COMMENT: "an approver asks a question on a pending request",
    NotificationKind.SNOOZE_ENDED: "a reminder an approver snoozed from chat",
    NotificationKind.ISOLATION_ENDING: "an isolation ends within `ISOLATION_END_WARNING` seconds",
    NotificationKind.EXTENSION_NEEDED: "an extension of an isolation is filed",
    NotificationKind.DIGEST: "one digest to that destination",
    NotificationKind.TEST: "`manage.py send_test_notification`",
}


def test_readme_says_who_hears_each_kind_of_message():
    readme = (Path(settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Notifications", 1)[1].split("\n### ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| ")]
    assert sorted(set(NotificationKind) - set(ROWS)) == [], "a kind of message README's table does not name"
    missing = [kind for kind, words in ROWS.items() if not any(words in row for row in table)]
    assert missing == []
