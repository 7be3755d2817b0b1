"""A local SMTP server that keeps every mail in a Maildir: `make run`'s demo mailbox (/notifications/mailbox/).

Nothing is relayed: mails to any address stay on this machine. Stops on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import mailbox
import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run a local SMTP server that keeps every mail it receives in a Maildir (for demos; never relays)."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (127.0.0.1)")
        parser.add_argument("--port", type=int, default=1025, help="port to listen on (1025)")
        parser.add_argument("--maildir", required=True, help="the Maildir to keep mails in (created)")

    def handle(self, *args, **options):
        from aiosmtpd.controller import Controller

        if not 1 <= options["port"] <= 65535:
            raise CommandError("--port must be 1 to 65535")
        box = mailbox.Maildir(Path(options["maildir"]), create=True)

        class Keep:
            async def handle_DATA(self, server, session, envelope):
                box.add(envelope.content)
                return "250 Message kept"

        controller = Controller(Keep(), hostname=options["bind"], port=options["port"])
        try:
            controller.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['bind']}:{options['port']}: {exc.strerror}") from None
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        self.stdout.write(
            f"mail sink ready on {options['bind']}:{options['port']}, keeping mail in {options['maildir']}"
        )
        self.stdout.flush()
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
