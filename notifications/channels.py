"""The two ways out: e-mail through Django's SMTP backend, chat and webhooks through Apprise.

Nothing here decides who hears what (notifications/routing.py) or retries
(notifications/jobs.py): a send either returns or raises ``DeliveryFailed``
with a short reason fit for auditors ("HTTP 403", "SMTP 550 ..."), never
holding a URL (Apprise URLs carry tokens) or a password.
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, get_connection

from notifications import markup

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """A message did not get through; the message is the reason auditors read."""


# Where chat-like messages go: "chat:N" is NOTIFY_URLS[N]; "oncall:N" is ESCALATE_URLS[N] (paging);
# "slack:N" and "mattermost:N" the portal's own senders (notifications/slack.py, mattermost.py).
URL_SETTINGS = {"chat": "NOTIFY_URLS", "oncall": "ESCALATE_URLS"}
# Each group's portal-wide setting (every server's events) and the key of a KSC_SERVERS_FILE entry
# naming that server's own channels (only its events): "chat@acme:N" is acme's notify_urls[N].
SOURCES = {
    "chat": ("NOTIFY_URLS", "notify_urls"),
    "oncall": ("ESCALATE_URLS", "escalate_urls"),
    "slack": ("SLACK_CHANNELS", "slack_channels"),
    "mattermost": ("MATTERMOST_WEBHOOK_URLS", "mattermost_webhook_urls"),
}


def server_entry(name: str):
    """The KSC_SERVERS entry named ``name``, or None (the ``primary`` of today's KSC_* variables has no channels)."""
    return next((server for server in getattr(settings, "KSC_SERVERS", []) if server.name == name), None)


def configured(group: str, server: str = "") -> list[str]:
    """The group's URLs (channel ids for Slack): the portal-wide setting's, or the server's own."""
    setting, key = SOURCES[group]
    if not server:
        return list(getattr(settings, setting))
    entry = server_entry(server)
    return list(getattr(entry, key, ()) or ()) if entry is not None else []


def source_name(group: str, server: str = "") -> str:
    """Where a group's channels are configured, for messages: ``NOTIFY_URLS`` or ``KSC server 'acme' notify_urls``."""
    setting, key = SOURCES[group]
    return f"KSC server {server!r} {key}" if server else setting


def destination(group: str, index: int, server: str = "") -> str:
    """A chat destination: ``chat:0`` (portal-wide), ``chat@acme:0`` (server acme's own)."""
    return f"{group}@{server}:{index}" if server else f"{group}:{index}"


def parse_destination(value: str) -> tuple[str, str, int]:
    """(group, server or "", index) of a chat destination written by ``destination``."""
    where, _sep, index = value.partition(":")
    group, _at, server = where.partition("@")
    return group, server, int(index)


def server_channel_names() -> list[str]:
    """The servers that have channels of their own, in configuration order."""
    return [
        server.name
        for server in getattr(settings, "KSC_SERVERS", [])
        if any(getattr(server, key, ()) for _setting, key in SOURCES.values())
    ]


@dataclass(frozen=True)
class ChatChannel:
    index: int  # position in NOTIFY_URLS (or ESCALATE_URLS for "oncall")
    label: str  # Apprise's name for the service ("Slack", "JSON", "Mattermost"...)
    body_format: str  # markup.TEXT, MARKDOWN or HTML: what the service renders
    key: str  # short hash of the URL, to notice a changed NOTIFY_URLS
    group: str = "chat"
    server: str = ""  # "": a portal-wide channel (every server's events); else that server's own

    @property
    def destination(self) -> str:
        return destination(self.group, self.index, self.server)


def email_enabled() -> bool:
    return bool(settings.EMAIL_HOST)


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _plugin(url: str):
    import apprise

    return apprise.Apprise.instantiate(url, suppress_exceptions=True)


@lru_cache(maxsize=32)
def _describe(url: str) -> tuple[str, str]:
    plugin = _plugin(url)
    if plugin is None:
        raise ImproperlyConfigured("not an Apprise URL this Apprise understands")
    fmt = str(plugin.resolve_format(None).value)
    return str(plugin.service_name), fmt if fmt in markup.FORMATS else markup.TEXT


def chat_channels(group: str = "chat", server: str = "") -> list[ChatChannel]:
    """The configured chat channels, in NOTIFY_URLS order (``group="oncall"``: ESCALATE_URLS, for paging);
    with ``server``, that server's own (its KSC_SERVERS_FILE entry's notify_urls or escalate_urls)."""
    channels = []
    for index, url in enumerate(configured(group, server)):
        label, fmt = _describe(url)
        channels.append(
            ChatChannel(index=index, label=label, body_format=fmt, key=url_key(url), group=group, server=server)
        )
    return channels


def check_notify_urls(urls: list[str], name: str = "NOTIFY_URLS") -> None:
    """Refuse, at start, an entry Apprise cannot use (naming its position: the URL is a secret)."""
    for index, url in enumerate(urls, start=1):
        try:
            _describe(url)
        except ImproperlyConfigured:
            scheme = url.split("://", 1)[0] if "://" in url else "?"
            raise ImproperlyConfigured(
                f"{name}: entry {index} (scheme {scheme!r}) is not an Apprise URL this Apprise understands."
            ) from None


def enabled() -> bool:
    return (
        email_enabled()
        or bool(settings.NOTIFY_URLS)
        or bool(settings.ESCALATE_URLS)
        or bool(settings.SLACK_CHANNELS)
        or bool(settings.MATTERMOST_WEBHOOK_URLS)
        or bool(server_channel_names())
    )


def check_server_channels(servers) -> None:
    """Refuse, at start, a servers file entry's notify_urls or escalate_urls Apprise cannot use."""
    for position, server in enumerate(servers, start=1):
        for key in ("notify_urls", "escalate_urls"):
            urls = list(getattr(server, key, ()) or ())
            if urls:
                check_notify_urls(urls, f"KSC_SERVERS_FILE: entry {position} ({server.name!r}): {key}")


# --- Sending -----------------------------------------------------------------------------------


def send_email(address: str, subject: str, body: str, language: str) -> None:
    message = EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
        # Out-of-office replies and auto-forwarders must not answer a machine (RFC 3834).
        headers={"Auto-Submitted": "auto-generated", "Content-Language": language},
    )
    try:
        # EMAIL_TIMEOUT bounds each SMTP call: a hung mail server must not hold the worker.
        get_connection(fail_silently=False).send_messages([message])
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise DeliveryFailed(f"SMTP {exc.smtp_code} {markup.shorten(text, 200)}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = ", ".join(f"{code}" for code, _text in exc.recipients.values())
        raise DeliveryFailed(f"SMTP refused the recipient ({codes})") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"SMTP: {markup.shorten(str(exc) or exc.__class__.__name__, 200)}") from None


_HTTP_STATUS = re.compile(r"(?:error=|error code:?\s*|HTTP error\s*)(\d{3})", re.IGNORECASE)
_ANY_URL = re.compile(r"\S+://\S+")


def _reason(log_text: str) -> str:
    """What went wrong, from Apprise's warnings: "HTTP 403" when a status is there, else its last line."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    for line in reversed(lines):
        match = _HTTP_STATUS.search(line)
        if match:
            return f"HTTP {match.group(1)}"
    if lines:
        return markup.shorten(_ANY_URL.sub("<url>", lines[-1]), 200)
    return "the service did not accept the message"


def send_chat(
    channel_index: int,
    channel_key: str,
    title: str,
    body: str,
    body_format: str,
    notify_type: str,
    group: str = "chat",
    server: str = "",
) -> None:
    import apprise

    name = source_name(group, server)
    urls = configured(group, server)
    if channel_index >= len(urls) or url_key(urls[channel_index]) != channel_key:
        raise DeliveryFailed(f"{name} changed since this message was planned; not sent")
    plugin = _plugin(urls[channel_index])
    if plugin is None:
        raise DeliveryFailed("not an Apprise URL")
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        try:
            sent = plugin.notify(body=body, title=title, notify_type=notify_type, body_format=body_format)
        except Exception as exc:  # a plugin's bug must not escape as a traceback holding its URL
            log.warning("chat channel %d: %s", channel_index, exc.__class__.__name__)
            raise DeliveryFailed(f"Apprise: {exc.__class__.__name__}") from None
    if not sent:
        raise DeliveryFailed(_reason(captured.getvalue()))
