"""The outcome on the host reaches people, end to end (issue 29, point 1).

Nothing here writes an event by hand: a request is filed, approved and
submitted by the real worker to the simulator over HTTPS, the simulator's
[Response] task completes, warns, fails or never appears, the real outcome
sweep writes its ``outcome`` events, and the real `notify` worker delivers
to an SMTP server and an HTTP server taking Apprise's JSON, in English and
in Japanese.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from notifications import routing
from notifications.models import Notification, NotificationKind
from responses import outcomes, workflow
from responses.models import EventKind, OutcomeState, ResponseOutcome, Status
from tests.fixtures.notifications import run_notify_worker
from tests.fixtures.submission import run_worker
from tests.support.filing import file_request

ROOT = Path(__file__).resolve().parent.parent

# A phrase of each message's subject, and its Japanese: proof of the message and of the language.
SUBJECT = {
    "completed": {"en": "Completed on the host", "ja": "ホストで完了"},
    "warning": {"en": "Completed with a warning", "ja": "警告付きで完了"},
    "failed": {"en": "Failed on the host", "ja": "ホストで失敗"},
    "no_task": {"en": "No KSC task appeared", "ja": "KSC タスクが現れませんでした"},
}
# (what the simulator's task does, the outcome state, do those who approved hear of it, does the channel)
CASES = {
    "completed": ({"outcome": "complete"}, OutcomeState.COMPLETED, False, False),
    "warning": ({"outcome": "warn", "reason": "Some files were skipped: access denied"}, OutcomeState.WARNING, False, False),
    "failed": ({"outcome": "fail", "reason": "The file is locked by another process"}, OutcomeState.FAILED, True, True),
    "no_task": ({"outcome": "never"}, OutcomeState.NO_TASK, True, True),
}


@pytest.fixture
def following(notifying, submission, settings):
    """Notifications to the SMTP and HTTP servers, KSC at the simulator, the hourly cap off."""
    settings.KSC_SUBMIT_HOURLY_CAP = 0
    settings.KSC_TASK_APPEAR_TIMEOUT = 900
    return submission


def submitted(alice, bob, simulator):
    host = simulator.hosts()[0]
    request = file_request(
        user=alice,
        task="deleteFile",
        target_host=host["KLHST_WKS_HOSTNAME"],
        target_host_name=host["KLHST_WKS_DN"],
        params={"path": "C:\\Temp\\evil.exe"},
        justification="Dropper found by KUMA (ALERT-9)",
    )
    workflow.approve(request, user=bob, comment="go")
    run_worker()  # the real `ksc` worker submits it to the simulator
    request.refresh_from_db()
    assert request.status == Status.SUBMITTED, request.last_error
    return request


def outcome_mails(smtp_server, phrase):
    return [mail for mail in smtp_server.mails if phrase in mail["Subject"]]


def speak(language, *users, settings):
    from notifications.models import NotificationPreference

    for user in users:
        NotificationPreference.objects.update_or_create(user=user, defaults={"language": language})
    settings.NOTIFY_LANGUAGE = language


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_outcome_on_the_host_reaches_the_requester_and_failures_those_who_approved(
    following, smtp_server, webhook, notify_queue, alice, bob, carol, language, case, settings
):
    behaviour, state, deciders_hear, channel_hears = CASES[case]
    speak(language, alice, bob, carol, settings=settings)
    following.configure_tasks(behaviour)
    request = submitted(alice, bob, following)
    run_notify_worker(notify_queue)  # approval messages of the filing and the decision go first
    smtp_server.mails.clear()
    webhook.posts.clear()

    outcomes.sweep()
    if state == OutcomeState.NO_TASK:
        assert ResponseOutcome.objects.get(request=request).state == OutcomeState.WAITING
        outcomes.sweep(now=timezone.now() + dt.timedelta(minutes=16))
    assert ResponseOutcome.objects.get(request=request).state == state
    run_notify_worker(notify_queue)

    phrase = SUBJECT[case][language]
    mails = outcome_mails(smtp_server, phrase)
    expected = ["alice@example.test"] + (["bob@example.test"] if deciders_hear else [])
    assert sorted(mail["To"] for mail in mails) == expected, [m["Subject"] for m in smtp_server.mails]
    assert all(request.target_host_name in mail["Subject"] for mail in mails)
    body = mails[0].get_content()
    assert f"/requests/{request.uuid}/" in body
    if "reason" in behaviour:
        assert behaviour["reason"] in body, "KSC's reason is in the message"
    if state == OutcomeState.NO_TASK:
        assert "Web Console" in body, "the sweep's explanation of a missing task is in the message"
    # carol neither filed nor approved it: she hears nothing of the outcome
    assert not smtp_server.to("carol@example.test")
    posts = [post for post in webhook.posts if phrase in post["title"]]
    assert len(posts) == (1 if channel_hears else 0)
    if channel_hears:
        assert posts[0]["type"] == "failure"
        if "reason" in behaviour:
            assert behaviour["reason"] in posts[0]["message"]

    # One message per outcome change: another sweep of a closed outcome says nothing again.
    before = Notification.objects.filter(request=request).count()
    outcomes.sweep(now=timezone.now() + dt.timedelta(minutes=30))
    run_notify_worker(notify_queue)
    assert Notification.objects.filter(request=request).count() == before


def test_pending_and_running_are_not_news_and_completed_is_told_once(following, smtp_server, notify_queue, alice, bob):
    following.configure_tasks({"pending_s": 60, "run_s": 60})
    request = submitted(alice, bob, following)
    run_notify_worker(notify_queue)
    smtp_server.mails.clear()
    outcomes.sweep()
    following.advance_clock(61)
    outcomes.sweep()
    run_notify_worker(notify_queue)
    assert ResponseOutcome.objects.get(request=request).state == OutcomeState.RUNNING
    assert not smtp_server.mails, "pending and running are on the page, not in mailboxes"
    following.advance_clock(61)
    outcomes.sweep()
    run_notify_worker(notify_queue)
    assert [mail["To"] for mail in smtp_server.mails] == ["alice@example.test"]
    kinds = list(Notification.objects.filter(request=request, event__kind=EventKind.OUTCOME).values_list("kind", flat=True))
    assert set(kinds) == {NotificationKind.OUTCOME_COMPLETED}


def test_an_outcome_whose_dispatch_was_lost_is_caught_up_by_the_sweep(following, smtp_server, notify_queue, alice, bob):
    """Redis lost the dispatch job: the notifications sweep finds the outcome event and sends it."""
    from notifications import jobs

    following.configure_tasks({"outcome": "fail", "reason": "Access denied"})
    submitted(alice, bob, following)
    run_notify_worker(notify_queue)
    smtp_server.mails.clear()
    outcomes.sweep()
    notify_queue.connection.flushdb()  # the dispatch job is gone
    later = timezone.now() + dt.timedelta(minutes=2)
    assert jobs.catch_up(now=later) == 1
    run_notify_worker(notify_queue)
    assert sorted(m["To"] for m in outcome_mails(smtp_server, "Failed on the host")) == [
        "alice@example.test",
        "bob@example.test",
    ]


def _written_event_kinds() -> set[str]:
    """Every EventKind member that the code outside models and migrations writes (``EventKind.X``)."""
    names: set[str] = set()
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts or "migrations" in path.parts:
            continue
        if path.name == "models.py" or path.parts[-2] == "notifications":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "EventKind":
                names.add(node.attr)
    return {EventKind[name].value for name in names if name in EventKind.__members__}


def test_the_routing_table_names_only_event_kinds_something_writes():
    written = _written_event_kinds()
    assert EventKind.OUTCOME in written and EventKind.APPROVED in written  # the scan finds what it should
    unwritten = sorted(set(routing.EVENT_KINDS) - written)
    assert not unwritten, f"notifications/routing.py waits for event kinds nothing writes: {unwritten}"
