"""A burst becomes one digest per channel; text from users cannot inject links, mentions or markup.

Through the same real SMTP and HTTP servers as tests/test_notifications_delivery.py.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from notifications import jobs, markup
from notifications.models import DeliveryStatus, Notification, NotificationKind
from responses import workflow
from tests.fixtures.notifications import file, run_notify_worker
from tests.support.openioc import ioc_zip_b64

EVIL = "Urgent [reset your password](https://evil.example.com/login) @channel <!here> <b>bold</b> www.evil.com"


class TestDigest:
    def test_a_burst_of_waiting_requests_becomes_one_digest_per_channel(
        self, notifying, smtp_server, webhook, notify_queue, alice, bob
    ):
        filed = [file(alice, justification=f"SIEM rule loop, alert {n}") for n in range(13)]
        run_notify_worker(notify_queue)

        # The first NOTIFY_BURST_LIMIT (10) went one by one; the other 3 wait in one digest per destination.
        assert len(smtp_server.to("bob@example.test")) == 10
        assert len(webhook.posts) == 10
        digests = Notification.objects.filter(kind=NotificationKind.DIGEST).order_by("destination")
        assert [(d.destination, d.status) for d in digests] == [
            ("chat:0", DeliveryStatus.PENDING),
            ("user:bob", DeliveryStatus.PENDING),
        ]
        for digest in digests:
            assert digest.parts.count() == 3
            assert set(digest.parts.values_list("status", flat=True)) == {DeliveryStatus.IN_DIGEST}
        # Each digest goes out when the window ends (a scheduled job); run them now.
        scheduled = set(notify_queue.scheduled_job_registry.get_job_ids())
        assert {str(d.uuid) for d in digests} <= scheduled
        for digest in digests:
            assert jobs.deliver(str(digest.uuid)) == "delivered"

        mails = smtp_server.to("bob@example.test")
        assert len(mails) == 11
        digest_mail = mails[-1]
        assert "3 more requests wait for approval" in digest_mail["Subject"]
        body = digest_mail.get_content()
        for rr in filed[10:]:
            assert f"https://edr.example.test/requests/{rr.uuid}/" in body
        assert str(filed[9].uuid) not in body  # sent on its own already
        assert len(webhook.posts) == 11 and "alert 12" in webhook.posts[-1]["message"]
        assert jobs.deliver(str(digests[0].uuid)) == "skipped"  # once

    def test_the_digest_goes_out_by_itself_when_the_window_ends(self, notifying, smtp_server, notify_queue, alice, bob):
        # A short window, but long enough for three dispatches on a loaded machine.
        notifying.NOTIFY_BURST_LIMIT, notifying.NOTIFY_BURST_WINDOW, notifying.NOTIFY_URLS = 1, 4, []
        for n in range(3):
            file(alice, justification=f"alert {n}")
        run_notify_worker(notify_queue)
        assert len(smtp_server.mails) == 1
        # The window ends: wait until the digest's scheduled time (not a fixed 4.5 s), then the worker's
        # scheduler queues it.
        registry = notify_queue.scheduled_job_registry
        scheduled = [registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids()]
        assert scheduled, "no digest was scheduled for the window's end"
        time.sleep(max(0.0, (max(scheduled) - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
        run_notify_worker(notify_queue, scheduler=True)
        assert len(smtp_server.mails) == 2
        assert "2 more requests wait for approval" in smtp_server.mails[1]["Subject"]

    def test_below_the_limit_every_request_has_its_own_message(self, notifying, smtp_server, notify_queue, alice, bob):
        notifying.NOTIFY_BURST_LIMIT = 3
        for n in range(3):
            file(alice, justification=f"alert {n}")
        run_notify_worker(notify_queue)
        assert len(smtp_server.to("bob@example.test")) == 3
        assert not Notification.objects.filter(kind=NotificationKind.DIGEST).exists()


class TestEscaping:
    @pytest.fixture
    def three_formats(self, notifying, webhook):
        # The same JSON endpoint asked for plain text, Markdown and HTML: one channel of each markup.
        notifying.NOTIFY_URLS = [
            webhook.url("text"),
            webhook.url("md", "format=markdown"),
            webhook.url("html", "format=html"),
        ]
        return notifying

    def test_a_justification_cannot_inject_links_mentions_or_markup(
        self, three_formats, smtp_server, webhook, notify_queue, alice, bob
    ):
        rr = file(alice, justification=EVIL, host_name="<!channel> PAYROLL-01")
        run_notify_worker(notify_queue)

        rows = {n.body_format: n for n in Notification.objects.filter(request=rr, channel="chat")}
        assert set(rows) == {"text", "markdown", "html"}
        posts = {post["message"]: post for post in webhook.posts}
        assert len(posts) == 3
        for post in webhook.posts:
            text = post["title"] + post["message"]
            assert "https://evil" not in text and "www.evil.com" not in text
            assert "hxxps[://]evil[.]example[.]com" in text.replace("\\", "")
            assert "@channel" not in text and "@\u200bchannel" in text
            assert "<!here>" not in text and "<!channel>" not in text
            assert "<b>" not in text
            # the portal's own link is intact
            assert f"https://edr.example.test/requests/{rr.uuid}/" in text
        markdown = rows["markdown"].body
        assert "\\[reset your password\\]" in markdown and "](" not in markdown
        html = rows["html"].body
        assert "<b>bold" not in html and "‹b›bold‹/b›" in html
        assert "<br>" in html  # our line breaks, not theirs
        mail = smtp_server.to("bob@example.test")[0]
        assert "https://evil" not in mail.get_content() and "‹!channel› PAYROLL-01" in mail["Subject"]

    def test_a_comment_cannot_inject_either(self, notifying, smtp_server, webhook, notify_queue, alice, bob):
        rr = file(alice)
        run_notify_worker(notify_queue)
        workflow.reject(rr.uuid, user=bob, comment="see http://phish.example.net/x and ping @here")
        run_notify_worker(notify_queue)
        body = smtp_server.to("alice@example.test")[0].get_content()
        assert "http://phish" not in body and "hxxp[://]phish[.]example[.]net/x" in body
        assert "@here" not in body

    def test_no_ioc_archive_or_parameters_beyond_the_description_reach_a_message(
        self, notifying, smtp_server, webhook, notify_queue, alice, bob
    ):
        ioc = ioc_zip_b64()  # a real OpenIOC archive, as the catalog accepts
        rr = file(
            alice,
            task="iocScan",
            params={"ioc": ioc, "isolateHost": True, "scanCriticalAreas": False, "quarantineObject": False},
        )
        run_notify_worker(notify_queue)
        assert Notification.objects.filter(request=rr).count() == 2
        for note in Notification.objects.filter(request=rr):
            assert ioc[:40] not in note.body and ioc[:40] not in note.subject
        assert all(ioc[:40] not in post["message"] for post in webhook.posts)

    def test_start_process_arguments_and_working_folder_stay_on_the_portal(
        self, notifying, smtp_server, webhook, notify_queue, alice, bob
    ):
        # issue 23, point 12: a "net use" line carries a password; chat and mail say how long it is, not what.
        arguments = r"use Z: \\fs01\share /user:CORP\svc-backup Winter2026!Secret"
        rr = file(
            alice,
            task="startProcess",
            params={
                "executablePath": r"C:\Windows\System32\net.exe",
                "arguments": arguments,
                "workingFolder": r"C:\Secret-Folder-7",
            },
        )
        run_notify_worker(notify_queue)
        mail = smtp_server.to("bob@example.test")[0]
        texts = [mail.get_content(), mail["Subject"], *(post["title"] + post["message"] for post in webhook.posts)]
        assert len(texts) == 3
        words = f"(arguments: {len(arguments)} characters, see the portal)"
        for text in texts[:1] + texts[2:]:
            assert words in text.replace("\\", "")
        for text in texts:
            flat = text.replace("\\", "").replace("[.]", ".")
            assert "Winter2026" not in flat and "svc-backup" not in flat and "Secret-Folder" not in flat
        for note in Notification.objects.filter(request=rr):
            assert "Winter2026" not in note.body and "Secret-Folder" not in note.body
        assert "Winter2026" in rr.describe()  # the portal's pages still show approvers what runs


class TestMarkup:
    @pytest.mark.parametrize(
        ("value", "fmt", "expected"),
        [
            ("ping @here now", markup.TEXT, "ping @\u200bhere now"),
            ("<!channel>", markup.TEXT, "‹!channel›"),
            ("[x](https://a.example.org/p)", markup.MARKDOWN, "\\[x\\]\\(hxxps\\[://\\]a\\[.\\]example\\[.\\]org/p\\)"),
            ("<script>alert(1)</script>", markup.HTML, "‹script›alert(1)‹/script›"),
            ("a & b", markup.HTML, "a &amp; b"),
            ("line\nbreak\ttab", markup.TEXT, "line break tab"),
            ("x" * 400, markup.TEXT, "x" * 299 + "…"),
        ],
    )
    def test_user_text(self, value, fmt, expected):
        assert markup.user_text(value, fmt) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            # issue 23, point 11: whatever precedes the scheme, and whatever the top-level domain
            ("1https://evil.zip/x", "1hxxps[://]evil[.]zip/x"),
            ("_https://evil.example/x", "_hxxps[://]evil[.]example/x"),
            ("aHTTP://EVIL.MOV", "aHXXP[://]EVIL[.]MOV"),
            ("ftp://files.evil.click", "ftp[://]files[.]evil[.]click"),
            ("x://y", "x[://]y"),
            ("see evil.zip or login.microsoftonline.evil.party", "see evil[.]zip or login[.]microsoftonline[.]evil[.]party"),
            ("evil．example。рф", "evil[.]example[.]рф"),
            ("10.0.0.1 and my-host_1.corp", "10[.]0[.]0[.]1 and my-host_1[.]corp"),
            ("An end. A start", "An end. A start"),
        ],
    )
    def test_every_link_is_defanged_whatever_precedes_it(self, value, expected):
        assert markup.user_text(value, markup.TEXT) == expected
        assert "://" not in markup.user_text(value, markup.HTML).replace("[://]", "")


def test_a_waiting_message_says_how_long_it_has_waited(notifying, alice, bob):
    from notifications import messages

    rr = file(alice)
    composed = messages.compose(
        NotificationKind.REMINDER, rr, language="en", fmt="text", now=timezone.now() + timezone.timedelta(hours=3)
    )
    assert "Waiting for 3\xa0hours." in composed.body
