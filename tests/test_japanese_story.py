"""The whole story's pages in Japanese, scanned (issue 30, point 8).

Requests in every state a walk-through meets (waiting with a question, an answer and a claim from
chat; approved, submitted and failed on the host with KSC's reason; rejected; cancelled; expired;
escalated), every page an analyst, an approver and an auditor open, rendered in Japanese. Each
page's visible text must hold no ASCII comma or colon inside Japanese text, no 「0 分」 (but
「たった今」), and no English sentence of the catalog: a msgid shown as such means a string was
not translated where it is rendered.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid

import pytest
from django.conf import settings
from django.utils import timezone

from notifications import escalation
from responses import comments, outcomes, review, trail_messages, workflow
from responses.models import OutcomeState, ResponseOutcome, ResponseRequest, Status
from tests.support.pages import file as file_on
from tests.support.pages import set_status


def file(user, **extra):
    """A request on a host of its own: one isolation change at a time per host."""
    return file_on(user, target_host=str(uuid.uuid4()), **extra)

JAPANESE = "\u3040-\u30ff\u4e00-\u9fff"
# ASCII punctuation inside Japanese text: a Japanese character, the mark (and a space), a Japanese character.
ASCII_IN_JAPANESE = re.compile(rf"[{JAPANESE}][,:] ?[{JAPANESE}]|[{JAPANESE}] [,:] ?[{JAPANESE}]|[{JAPANESE}], ")


def catalog_sentences() -> list[str]:
    """The catalog's English texts long enough to be recognised on a page (three words or more)."""
    import polib

    found = []
    for entry in polib.pofile(str(settings.BASE_DIR / "locale" / "ja" / "LC_MESSAGES" / "django.po")):
        for text in (entry.msgid, entry.msgid_plural):
            if not text or "%" in text or "{" in text or "<" in text:
                continue  # placeholders and markup are filled in: the rendered text differs
            if len(text.split()) >= 3 and re.search(r"[a-z]{3}", text):
                found.append(text)
    return found


def visible_text(page: str) -> str:
    page = re.sub(r"(?is)<(script|style|code|pre|textarea)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return " ".join(html.unescape(page).split())


@pytest.fixture
def story(alice, bob, carol, dave, settings):
    settings.ESCALATE_TO = "Approvers"
    settings.APPROVAL_SLA = 60
    settings.APPROVAL_SLA_BY_TASK = {}
    waiting = file(alice, justification="Beaconing to 203.0.113.7, ticket SOC-4411")
    comments.add(waiting, user=bob, text="Which alert?")
    comments.add(waiting, user=alice, text="KUMA 4711")
    review.claim(waiting, user=carol, via="slack")

    failed = workflow.approve(file(alice, justification="Ransomware note found"), user=bob)
    set_status(failed, Status.SUBMITTED, ksc_incident_id=4242, submitted_at=timezone.now())
    outcome = ResponseOutcome.objects.create(
        request=failed,
        state=OutcomeState.WAITING,
        since=timezone.now(),
        ksc_task_id="1001",
        ksc_task_name="[Response][Kuma] isolateHost - x - 4242",
        matched_by=", ".join(
            [
                outcomes.MATCHED_BY[0],
                outcomes.MATCHED_BY[1] % {"id": 4242},
                outcomes.MATCHED_BY[4] % {"host": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"},
            ]
        ),
    )
    name, task_id = outcome.ksc_task_name, outcome.ksc_task_id
    now = timezone.now()
    # As the sweep words them (outcomes._Sweep.follow): the message's id and arguments beside the English text.
    for state, message in (
        (OutcomeState.PENDING, trail_messages.say(outcomes._MESSAGES[OutcomeState.PENDING], name=name, id=task_id)),
        (OutcomeState.RUNNING, trail_messages.say(outcomes._MESSAGES[OutcomeState.RUNNING], name=name, id=task_id)),
        (
            OutcomeState.FAILED,
            trail_messages.say(
                outcomes._MESSAGES_WITH_REASON[OutcomeState.FAILED],
                name=name,
                id=task_id,
                reason="The firewall rule was refused",
            ),
        ),
    ):
        assert outcomes._change(outcome, state, message, {}, now)

    rejected = workflow.reject(file(alice), user=bob, comment="Call the owner first")
    cancelled = workflow.cancel(file(alice), user=alice, comment="")
    expired = file(alice)
    ResponseRequest.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    workflow.expire_overdue()
    escalated = file(alice, task="deleteFile", params={"path": "C:\\Users\\x\\evil.exe"})
    ResponseRequest.objects.filter(pk=escalated.pk).update(created_at=timezone.now() - dt.timedelta(minutes=5))
    escalation.escalate_overdue()
    return [waiting, failed, rejected, cancelled, expired, escalated]


def pages_of(story) -> list[tuple[str, str]]:
    details = [f"/requests/{rr.uuid}/" for rr in story]
    return (
        [("alice", url) for url in ["/", "/requests/new/", "/requests/new/?task=isolateHost", "/requests/mine/",
                                    "/attention/", *details]]
        + [("bob", url) for url in ["/approvals/", "/attention/", "/requests/", *details]]
        + [("dave", url) for url in ["/requests/", "/requests/?status=rejected", "/audit/accounts/", "/audit/chain/",
                                     "/attention/", details[1]]]
    )


def test_the_story_reads_in_japanese_without_ascii_punctuation_or_untranslated_sentences(
    client, login, alice, bob, carol, dave, story
):
    people = {"alice": alice, "bob": bob, "dave": dave}
    sentences = catalog_sentences()
    assert len(sentences) > 300
    problems = []
    current = None
    for username, url in pages_of(story):
        if username != current:
            client.logout()
            login(client, people[username])
            client.post("/i18n/setlang/", {"language": "ja", "next": "/"})
            current = username
        response = client.get(url)
        assert response.status_code == 200, (username, url, response.status_code)
        text = visible_text(response.content.decode())
        for match in ASCII_IN_JAPANESE.finditer(text):
            problems.append(f"{username} {url}: ASCII punctuation in Japanese: …{text[max(0, match.start() - 20):match.end() + 20]}…")
        if re.search(r"(?<![\d.])0 分", text):
            problems.append(f"{username} {url}: 「0 分」 instead of 「たった今」")
        for sentence in sentences:
            if sentence in text:
                problems.append(f"{username} {url}: untranslated: {sentence!r}")
    assert problems == [], "\n".join(problems)


def test_the_timeline_says_who_did_what_in_japanese_order(client, login, alice, bob, carol, dave, story):
    login(client, alice)
    client.post("/i18n/setlang/", {"language": "ja", "next": "/"})
    waiting, failed = story[0], story[1]

    page = client.get(f"/requests/{waiting.uuid}/").content.decode()
    text = visible_text(page)
    assert "alice が<strong>申請</strong>" in page and "carol が<strong>担当</strong>" in page
    assert "確認中（slack から担当）。" in text  # the claim's trail text, in the reader's language
    detail = visible_text(client.get(f"/requests/{failed.uuid}/").content.decode())
    assert "ホストで失敗しました：The firewall rule was refused。" in detail  # KSC's own words kept
    assert "[Response] の名前、名前の中のインシデント ID 4242、ホストのタスク一覧" in detail  # "Matched by"
    assert "依頼" in detail and "リクエスト" not in detail
