"""Check a production setup: send a test message now, to a user's e-mail or to the chat channels.

    manage.py send_test_notification --to bob          # e-mail to bob's address
    manage.py send_test_notification --to channels     # every NOTIFY_URLS channel
    manage.py send_test_notification --to channel:2     # the second one
    manage.py send_test_notification --to channels --server acme   # KSC server acme's own channels

Sends at once (not through the queue), records each message like any other,
prints each result, and exits 1 when any failed.
"""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from notifications import channels, jobs, messages, routing
from notifications.models import DeliveryStatus, Notification, NotificationKind


class Command(BaseCommand):
    help = "Send a test notification now to a user (by e-mail) or to the chat channels, and print the result."

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, help="a username, 'channels', or 'channel:N' (N from 1)")
        parser.add_argument(
            "--server",
            help="with 'channels' or 'channel:N': that KSC server's own channels (its servers file entry), "
            "instead of the portal-wide ones",
        )
        parser.add_argument("--language", choices=[code for code, _name in settings.LANGUAGES], help="override")

    def _recipients(self, target: str, server: str | None = None) -> list[routing.Recipient]:
        if server is not None and not (target == "channels" or target.startswith("channel:")):
            raise CommandError("--server goes with --to channels or --to channel:N (a server's own channels).")
        if server is not None and channels.server_entry(server) is None:
            raise CommandError(f"No KSC server {server!r} in KSC_SERVERS_FILE.")
        if target == "channels" or target.startswith("channel:"):
            chats = routing.channel_recipients(server or "")
            if not chats and server is not None:
                raise CommandError(
                    f"KSC server {server!r} has no channels of its own "
                    "(notify_urls, slack_channels, mattermost_webhook_urls in its servers file entry)."
                )
            if not chats:
                raise CommandError("No chat channel is configured (NOTIFY_URLS).")
            if target == "channels":
                return chats
            try:
                index = int(target.removeprefix("channel:"))
            except ValueError:
                raise CommandError(f"{target!r}: write channel:N with N from 1 to {len(chats)}.") from None
            if not 1 <= index <= len(chats):
                raise CommandError(f"{target!r}: NOTIFY_URLS has {len(chats)} channel(s); N is 1 to {len(chats)}.")
            return [chats[index - 1]]
        if not channels.email_enabled():
            raise CommandError("No mail server is configured (EMAIL_HOST).")
        user = get_user_model().objects.filter(username=target).first()
        if user is None:
            raise CommandError(f"No user {target!r}.")
        if not user.email:
            raise CommandError(f"User {target!r} has no e-mail address.")
        return [routing.email_recipient(user)]

    def handle(self, *args, **options):
        recipients = self._recipients(options["to"], options["server"])
        failed = 0
        for recipient in recipients:
            language = options["language"] or recipient.language
            composed = messages.compose_test(language=language, fmt=recipient.body_format)
            note = routing.record(
                NotificationKind.TEST,
                replace(recipient, language=language),
                None,
                None,
                timezone.now(),
                subject=composed.subject,
                body=composed.body,
                status=DeliveryStatus.SENDING,
                attempts=1,
            )
            where = f"e-mail to {recipient.label} <{recipient.address}>" if recipient.address else recipient.label
            try:
                jobs.send(note)
            except channels.DeliveryFailed as exc:
                failed += 1
                Notification.objects.filter(pk=note.pk).update(status=DeliveryStatus.FAILED, last_error=str(exc))
                self.stdout.write(f"{where}: failed: {exc}")
                continue
            Notification.objects.filter(pk=note.pk).update(status=DeliveryStatus.DELIVERED, sent_at=timezone.now())
            self.stdout.write(f"{where}: delivered")
        if failed:
            raise CommandError(f"{failed} test message(s) failed.", returncode=1)
