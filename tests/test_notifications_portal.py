"""The portal's side of notifications: account settings, the language switch, the menu's count,
the live JSON the pages poll, who can approve, the messages beside the trail, the demo mailbox."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage

import pytest
from django.urls import reverse

from notifications.models import DeliveryStatus, Notification, NotificationPreference
from responses import workflow
from responses.models import ResponseRequest
from tests.fixtures.notifications import file, run_notify_worker


class TestAccountPage:
    def test_it_says_when_nothing_is_configured(self, client, login, alice, settings):
        settings.EMAIL_HOST, settings.NOTIFY_URLS = "", []
        login(client, alice)
        html = client.get("/account/").content.decode()
        assert "This portal sends no notifications" in html
        assert 'name="email"' not in html

    def test_a_user_turns_a_kind_of_mail_off(self, client, login, alice, notifying):
        login(client, alice)
        html = client.get("/account/").content.decode()
        assert "alice@example.test" in html and 'value="rejected" checked' in html
        kept = ["approved", "rejected", "expired", "failed", "outcome_completed", "outcome_warning"]
        kept += ["outcome_failed", "outcome_no_task", "outcome_gone", "comment", "escalated", "sla_breached"]
        kept.remove("approved")
        response = client.post(reverse("notifications:preferences"), {"email": kept})
        assert response.status_code == 302
        prefs = NotificationPreference.objects.get(user=alice)
        assert set(prefs.email_off) == {"approved", "approval_needed", "reminder", "snooze_ended", "isolation_ending", "extension_needed"}
        assert not prefs.wants_email("approved") and prefs.wants_email("rejected")

    def test_an_unknown_kind_is_refused_and_changes_nothing(self, client, login, alice, notifying):
        login(client, alice)
        response = client.post(reverse("notifications:preferences"), {"email": ["approved", "bogus"]}, follow=True)
        assert "Unknown kind of notification: bogus." in response.content.decode()
        assert not NotificationPreference.objects.filter(user=alice).exists()

    def test_preferences_need_a_login_and_a_post(self, client, login, alice):
        assert client.post(reverse("notifications:preferences"), {"email": []}).status_code == 302
        assert not NotificationPreference.objects.exists()
        login(client, alice)
        assert client.get(reverse("notifications:preferences")).status_code == 405


class TestLanguageSwitch:
    def test_switching_keeps_the_language_for_the_users_messages(self, client, login, alice):
        login(client, alice)
        response = client.post("/i18n/setlang/", {"language": "ja", "next": "/"})
        assert response.status_code == 302
        assert NotificationPreference.objects.get(user=alice).language == "ja"
        client.post("/i18n/setlang/", {"language": "en", "next": "/"})
        assert NotificationPreference.objects.get(user=alice).language == "en"

    def test_an_unknown_language_is_not_kept(self, client, login, alice):
        login(client, alice)
        client.post("/i18n/setlang/", {"language": "xx", "next": "/"})
        assert not NotificationPreference.objects.filter(user=alice).exists()

    def test_anonymous_switching_still_works(self, client, db):
        assert client.post("/i18n/setlang/", {"language": "ja", "next": "/"}).status_code == 302
        assert not NotificationPreference.objects.exists()


class TestMenuCount:
    def test_approvers_see_how_many_requests_wait_for_them(self, client, login, alice, frank, bob, dave):
        file(alice)
        file(frank)
        login(client, bob)
        html = client.get("/requests/").content.decode()
        assert '<span id="waiting-count" class="badge badge-amber"' in html
        assert 'title="Requests waiting for your decision">2</span>' in html

    def test_a_request_bob_already_approved_no_longer_counts_for_him(self, client, login, alice, bob, settings):
        settings.APPROVALS_REQUIRED = 2  # it still waits for a second approver after bob's
        rr = file(alice)
        file(alice)
        workflow.approve(rr, user=bob)
        login(client, bob)
        assert 'title="Requests waiting for your decision">1</span>' in client.get("/requests/").content.decode()

    def test_auditors_decide_nothing_so_see_no_count(self, client, login, alice, dave):
        file(alice)
        login(client, dave)
        html = client.get("/requests/").content.decode()
        assert 'id="waiting-count"' in html and "hidden></span>" in html


class TestLiveJson:
    def test_it_needs_a_login(self, client):
        response = client.get(reverse("notifications:live"))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    def test_it_answers_the_count_the_queue_and_the_states_this_user_may_see(self, client, login, alice, frank, bob):
        mine, theirs = file(alice), file(frank)
        login(client, alice)
        data = client.get(reverse("notifications:live"), {"requests": f"{mine.uuid},{theirs.uuid},junk"}).json()
        assert list(data["requests"]) == [str(mine.uuid)]  # frank's request is not alice's to see
        assert data["requests"][str(mine.uuid)].startswith("pending_approval:")
        assert data["waiting"] == 0 and "queue" not in data
        login(client, bob)
        data = client.get(reverse("notifications:live")).json()
        assert data["waiting"] == 2 and data["queue"].startswith("2:")
        before = data["queue"]
        workflow.approve(mine, user=bob)
        data = client.get(reverse("notifications:live"), {"requests": str(mine.uuid)}).json()
        assert data["queue"] != before and data["waiting"] == 1
        assert data["requests"][str(mine.uuid)].startswith("approved:") or data["requests"][str(mine.uuid)].startswith(
            "queued:"
        )

    def test_it_costs_the_same_few_queries_however_many_wait(self, client, login, alice, bob, django_assert_max_num_queries):
        login(client, bob)
        client.get(reverse("notifications:live"))
        for n in range(30):
            file(alice, justification=f"alert {n}")
        keys = ",".join(str(rr.uuid) for rr in ResponseRequest.objects.visible_to(bob))
        # session, user, 2FA device, groups, the bounded count, the queue's stamp, the asked states,
        # and the session's save (an UPDATE between SAVEPOINT and RELEASE in tests)
        with django_assert_max_num_queries(10):
            data = client.get(reverse("notifications:live"), {"requests": keys}).json()
        assert data["waiting"] == 30 and len(data["requests"]) == 30

    def test_the_pages_that_refresh_themselves_carry_what_to_poll(self, client, login, alice, bob):
        rr = file(alice)
        login(client, alice)
        for url in ("/requests/mine/", f"/requests/{rr.uuid}/"):
            html = client.get(url).content.decode()
            assert (
                'id="live-updates"' in html and str(rr.uuid) in html and 'data-url="/notifications/live.json"' in html
            )
        login(client, bob)
        assert 'data-queue="1:' in client.get("/approvals/").content.decode()


class TestRequestPage:
    def test_after_filing_the_requester_reads_who_can_approve_and_how_they_were_told(
        self, client, login, notifying, smtp_server, webhook, notify_queue, alice, bob, carol
    ):
        NotificationPreference.objects.create(user=carol, email_off=["approval_needed"])
        rr = file(alice)
        run_notify_worker(notify_queue)
        login(client, alice)
        html = client.get(f"/requests/{rr.uuid}/").content.decode()
        assert "Who can approve" in html
        assert "bob: told by e-mail (delivered)" in html
        assert "carol: not told by e-mail" in html
        assert "Chat channels told: JSON." in html
        assert 'id="h-notifications"' not in html  # the delivery records are for auditors and approvers

    def test_auditors_read_every_message_and_its_result_beside_the_trail(
        self, client, login, notifying, smtp_server, webhook, notify_queue, alice, bob, dave
    ):
        webhook.statuses = [403, 403, 403]
        rr = file(alice)
        run_notify_worker(notify_queue)
        login(client, dave)
        html = client.get(f"/requests/{rr.uuid}/").content.decode()
        assert "e-mail to bob" in html and "delivered" in html
        assert "failed: HTTP 403" in html
        assert Notification.objects.filter(request=rr, status=DeliveryStatus.FAILED).count() == 1

    def test_nobody_can_approve_is_said_plainly(self, client, login, alice):
        rr = file(alice)
        login(client, alice)
        assert "Nobody can approve this request now" in client.get(f"/requests/{rr.uuid}/").content.decode()

    def test_a_pending_page_costs_the_same_whatever_the_number_of_users(
        self, client, login, alice, bob, django_assert_max_num_queries
    ):
        from tests.fixtures.accounts import make_user as _user

        rr = file(alice)
        login(client, alice)
        client.get(f"/requests/{rr.uuid}/")
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as few:
            client.get(f"/requests/{rr.uuid}/")
        for n in range(20):
            _user(f"approver{n}", "Approvers")
        with CaptureQueriesContext(connection) as many:
            assert "approver19" in client.get(f"/requests/{rr.uuid}/").content.decode()
        assert len(many.captured_queries) == len(few.captured_queries)


class TestMailbox:
    @pytest.fixture
    def sink(self, tmp_path, settings):
        box = mailbox.Maildir(tmp_path / "mail", create=True)
        message = EmailMessage()
        message["To"], message["Subject"] = "bob@example.test", "[EDR] Approval needed: Network isolation on PAYROLL-01"
        message.set_content("alice asks for an approval.")
        box.add(message)
        settings.MAIL_SINK_DIR = str(tmp_path / "mail")
        settings.KSC_SIMULATED = True
        return settings

    def test_superusers_read_the_demo_mails_in_simulated_mode(self, client, login, root, sink):
        login(client, root)
        html = client.get(reverse("notifications:mailbox")).content.decode()
        assert "Approval needed: Network isolation on PAYROLL-01" in html and "alice asks for an approval." in html
        assert 'href="/notifications/mailbox/">The demo\'s mails</a>' in client.get("/").content.decode()

    def test_nobody_else_and_never_outside_simulated_mode(self, client, login, root, bob, sink):
        login(client, bob)
        assert client.get(reverse("notifications:mailbox")).status_code == 404
        assert "/notifications/mailbox/" not in client.get("/").content.decode()
        sink.KSC_SIMULATED = False
        login(client, root)
        assert client.get(reverse("notifications:mailbox")).status_code == 404


def test_polling_does_not_keep_an_idle_session_alive(client, login, bob):
    """A queue page left open must still log out after SESSION_COOKIE_AGE of inactivity."""
    import datetime as dt

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    login(client, bob)
    key = client.cookies["sessionid"].value
    soon = timezone.now() + dt.timedelta(seconds=60)
    Session.objects.filter(session_key=key).update(expire_date=soon)
    assert client.get(reverse("notifications:live")).status_code == 200
    assert Session.objects.get(session_key=key).expire_date == soon  # not pushed back
    client.get("/requests/")  # a page someone opens is activity
    assert Session.objects.get(session_key=key).expire_date > soon


def test_the_admin_lists_messages_read_only(client, login, root, alice, bob, settings):
    from notifications.models import Channel, NotificationKind

    rr = file(alice)
    note = Notification.objects.create(
        request=rr,
        kind=NotificationKind.APPROVAL_NEEDED,
        channel=Channel.CHAT,
        destination="chat:0",
        label="Slack",
        language="en",
        status=DeliveryStatus.FAILED,
        last_error="HTTP 403",
        attempts=5,
    )
    login(client, root)
    listing = client.get("/admin/notifications/notification/?status=failed").content.decode()
    assert "Slack" in listing and "HTTP 403" in listing
    assert client.get(f"/admin/notifications/notification/{note.pk}/change/").status_code == 200
    assert client.get("/admin/notifications/notification/add/").status_code == 403
    assert client.post(f"/admin/notifications/notification/{note.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Notification.objects.filter(pk=note.pk).exists()
