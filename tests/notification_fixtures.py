"""Real servers for the notification tests: an SMTP server (aiosmtpd) and an HTTP server that takes Apprise's JSON.

Both run in the test process on loopback ports; what they received is read
back as parsed e-mails and JSON bodies. Either can be told to refuse.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"


def file(user, justification: str = "Ransomware beacon from PAYROLL-01 (KUMA alert 4711)", **extra):
    """Alice's usual request: isolate PAYROLL-01 (it waits for approval); ``extra`` changes task, params, host name."""
    from responses import workflow

    return workflow.file_request(
        user=user,
        task=extra.pop("task", "isolateHost"),
        target_host=HOST,
        target_host_name=extra.pop("host_name", "PAYROLL-01"),
        params=extra.pop("params", {"action": 1}),
        justification=justification,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    """aiosmtpd on loopback; ``refuse`` makes it answer 550 to every recipient."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.mails: list[email.message.EmailMessage] = []
        self.refuse = False
        server = self

        class Handler:
            async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
                if server.refuse:
                    return "550 5.7.1 relaying denied"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, smtp, session, envelope):
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                server.mails.append(message)
                return "250 Message accepted"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [mail for mail in self.mails if address in mail["To"]]

    def stop(self):
        self.controller.stop()


class WebhookServer:
    """An HTTP server taking Apprise's JSON posts; ``statuses`` are the answers to give, in order, then 200."""

    def __init__(self):
        self.posts: list[dict] = []
        self.statuses: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = server.statuses.pop(0) if server.statuses else 200
                if status == 200:
                    server.posts.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "hook", query: str = "") -> str:
        return f"json://127.0.0.1:{self.port}/{path}" + (f"?{query}" if query else "")

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def webhook():
    server = WebhookServer()
    yield server
    server.stop()


@pytest.fixture
def notify_queue():
    """The real `notify` RQ queue on the test Redis, emptied before and after."""
    import django_rq

    queue = django_rq.get_queue("notify")
    queue.connection.flushdb()
    yield queue
    queue.connection.flushdb()


@pytest.fixture
def notifying(transactional_db, settings, smtp_server, webhook, notify_queue):
    """E-mail through the SMTP server and one JSON webhook channel; retries without waiting.

    Real commits (transactional_db): django-rq queues a job only when the transaction
    that queued it commits, as it does in production.
    """
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"  # pytest-django sets locmem
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.NOTIFY_URLS = [webhook.url()]
    settings.PORTAL_BASE_URL = "https://edr.example.test"
    settings.NOTIFY_BACKOFF = 0
    settings.NOTIFY_TRIES = 3
    settings.NOTIFY_LANGUAGE = "en"
    settings.APPROVAL_REMIND_AFTER = None
    return settings


def run_notify_worker(queue, *, scheduler: bool = False) -> None:
    """One burst of the portal's worker on the `notify` queue, in this process (it shares the test database).

    ``scheduler``: first move the scheduled jobs that are due (a digest whose window ended) to the queue.
    """
    from responses.jobs import PortalWorker

    PortalWorker([queue], connection=queue.connection).work(burst=True, with_scheduler=scheduler)
