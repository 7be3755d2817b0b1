"""send_test_notification (checks a production setup), mail_sink (`make run`'s mailbox), and the settings."""

from __future__ import annotations

import mailbox
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from notifications.models import DeliveryStatus, Notification, NotificationKind
from portal.local_redis import free_port
from tests.support.subprocesses import ROOT, settings_in_subprocess

DEMO = {"SECRET_KEY": "x" * 50, "AUDIT_CHAIN_KEY": "k" * 40, "DATABASE_URL": "sqlite:///:memory:"}


def run(*args) -> str:
    out = StringIO()
    call_command("send_test_notification", *args, stdout=out)
    return out.getvalue()


class TestSendTestNotification:
    def test_it_mails_a_user_and_records_it(self, notifying, smtp_server, bob):
        assert run("--to", "bob") == "e-mail to bob <bob@example.test>: delivered\n"
        [mail] = smtp_server.mails
        assert mail["To"] == "bob@example.test" and "this channel works" in mail.get_content()
        note = Notification.objects.get(kind=NotificationKind.TEST)
        assert (note.label, note.status, note.request) == ("bob", DeliveryStatus.DELIVERED, None)

    def test_it_speaks_the_users_language_or_the_one_asked_for(self, notifying, smtp_server, bob):
        run("--to", "bob", "--language", "ja")
        assert "このチャネルは動作しています" in smtp_server.mails[0].get_content()

    def test_it_posts_to_every_channel(self, notifying, webhook):
        notifying.NOTIFY_URLS = [webhook.url("a"), webhook.url("b")]
        assert run("--to", "channels") == "JSON: delivered\nJSON: delivered\n"
        assert len(webhook.posts) == 2
        assert run("--to", "channel:2") == "JSON: delivered\n"

    def test_a_failing_channel_says_why_and_exits_1(self, notifying, webhook):
        webhook.statuses = [403]
        out = StringIO()
        with pytest.raises(CommandError, match="1 test message\\(s\\) failed") as raised:
            call_command("send_test_notification", "--to", "channels", stdout=out)
        assert raised.value.returncode == 1
        assert out.getvalue() == "JSON: failed: HTTP 403\n"
        assert Notification.objects.get(kind=NotificationKind.TEST).last_error == "HTTP 403"

    @pytest.mark.parametrize(
        ("target", "message"),
        [
            ("nobody", "No user 'nobody'."),
            ("channel:3", "NOTIFY_URLS has 1 channel\\(s\\); N is 1 to 1."),
            ("channel:x", "write channel:N with N from 1 to 1"),
        ],
    )
    def test_bad_targets_are_refused_and_send_nothing(self, notifying, smtp_server, webhook, bob, target, message):
        with pytest.raises(CommandError, match=message):
            run("--to", target)
        assert smtp_server.mails == [] and webhook.posts == [] and not Notification.objects.exists()

    def test_a_user_without_an_address_is_refused(self, notifying, bob):
        bob.email = ""
        bob.save()
        with pytest.raises(CommandError, match="User 'bob' has no e-mail address."):
            run("--to", "bob")

    def test_nothing_configured_is_said(self, settings, bob):
        settings.EMAIL_HOST, settings.NOTIFY_URLS = "", []
        with pytest.raises(CommandError, match="No mail server is configured"):
            run("--to", "bob")
        with pytest.raises(CommandError, match="No chat channel is configured"):
            run("--to", "channels")


def test_the_mail_sink_keeps_what_it_receives(tmp_path):
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "manage.py", "mail_sink", "--port", str(port), "--maildir", str(tmp_path / "mail")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout.readline().startswith(f"mail sink ready on 127.0.0.1:{port}")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "portal@demo.invalid", "bob@demo.invalid", "hello"
        message.set_content("kept, not relayed")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(message)
        kept = list(mailbox.Maildir(tmp_path / "mail", create=False))
        assert [mail["Subject"] for mail in kept] == ["hello"]
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=20)
    assert sink.returncode == 0


class TestSettings:
    def test_a_channel_without_portal_base_url_is_refused(self):
        result = settings_in_subprocess({**DEMO, "EMAIL_HOST": "smtp.example.com"})
        assert result.returncode != 0 and "PORTAL_BASE_URL (e.g. https://edr.example.com) is required" in result.stderr

    def test_a_bad_portal_base_url_is_refused(self):
        result = settings_in_subprocess({**DEMO, "PORTAL_BASE_URL": "edr.example.com"})
        assert "PORTAL_BASE_URL must be an http:// or https:// address" in result.stderr

    def test_tls_and_ssl_together_are_refused(self):
        result = settings_in_subprocess({**DEMO, "EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"})
        assert "EMAIL_USE_TLS (STARTTLS) and EMAIL_USE_SSL (implicit TLS) exclude each other" in result.stderr

    def test_an_apprise_url_apprise_does_not_know_is_refused_without_showing_it(self, tmp_path):
        secret = tmp_path / "notify_urls"
        secret.write_text("json://127.0.0.1/hook,nosuchservice://token-123-secret@x\n")
        result = settings_in_subprocess(
            {**DEMO, "NOTIFY_URLS_FILE": str(secret), "PORTAL_BASE_URL": "https://edr.example.com"}
        )
        assert "NOTIFY_URLS: entry 2 (scheme 'nosuchservice') is not an Apprise URL" in result.stderr
        assert "token-123-secret" not in result.stderr + result.stdout

    def test_a_good_setup_passes_the_check(self, tmp_path):
        secret = tmp_path / "password"
        secret.write_text("s3cret\n")
        result = settings_in_subprocess(
            {
                **DEMO,
                "EMAIL_HOST": "smtp.example.com",
                "EMAIL_HOST_PASSWORD_FILE": str(secret),
                "EMAIL_USE_TLS": "true",
                "NOTIFY_URLS": "json://127.0.0.1/hook, slack://T1/B1/C1",
                "PORTAL_BASE_URL": "https://edr.example.com/",
                "APPROVAL_REMIND_AFTER": "3600",
            },
            "shell",
            "-v",
            "0",
            "-c",
            "from django.conf import settings as s; print(s.EMAIL_HOST_PASSWORD, len(s.NOTIFY_URLS), "
            "s.PORTAL_BASE_URL, s.APPROVAL_REMIND_AFTER)",
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["s3cret", "2", "https://edr.example.com", "3600"]


def test_readme_documents_every_setting():
    """Every variable portal/settings.py reads is in README's table (issue 16: "README documents every setting")."""
    import re

    source = (ROOT / "portal" / "settings.py").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = set(re.findall(r'env_\w+\(\s*"([A-Z_]+)"', source))
    assert {"EMAIL_HOST", "NOTIFY_URLS", "PORTAL_BASE_URL", "APPROVAL_REMIND_AFTER"} <= names
    assert sorted(name for name in names if f"`{name}`" not in readme) == []
