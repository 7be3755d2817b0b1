"""`manage.py demo_totp bob`: the code bob's authenticator app would show now, for the demo only.

An approver's second factor is the point of the two-person rule; a command that prints it would
defeat it anywhere but the demo. So it works only when the portal talks to the simulated KSC that
`make run` starts (KSC_SIMULATED on, KSC on this machine's loopback), and refuses otherwise.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp

from accounts import directory, twofactor
from accounts.management.commands.create_demo_users import DEMO_USERS, TENANT_USERS

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
DEMO_USERNAMES = tuple(username for username, _role, _description, _servers in DEMO_USERS + TENANT_USERS)


def demo_mode() -> bool:
    """True only for `make run`'s demo: the simulated KSC on loopback (every server of it), never a real KSC."""
    if not getattr(settings, "KSC_SIMULATED", False):
        return False
    hosts = {urlsplit(server.url).hostname for server in getattr(settings, "KSC_SERVERS", []) if server.url}
    hosts = hosts or {getattr(settings, "KSC_HOST", "") or ""}
    return hosts <= LOOPBACK


class Command(BaseCommand):
    help = "Print the current authenticator (TOTP) code of a demo user. Demo only: refuses unless KSC is simulated."

    def add_arguments(self, parser):
        parser.add_argument("username", help="a demo user with an authenticator key (bob, carol, admin); no other")

    def handle(self, *args, **options):
        if not demo_mode():
            raise CommandError(
                "demo_totp works only in the demo that `make run` starts (KSC_SIMULATED=true, KSC on 127.0.0.1); "
                "it never prints codes for a portal connected to a real KSC."
            )
        username = options["username"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no user {username!r}.")
        if username not in DEMO_USERNAMES or directory.is_directory_user(user):
            # A demo portal may have other accounts (made in the admin, or from a directory): their
            # second factor is theirs, even here.
            raise CommandError(
                f"{username} is not a demo user: demo_totp prints the codes of {', '.join(DEMO_USERNAMES)} only."
            )
        device = twofactor.confirmed_totp(user)
        if device is None:
            raise CommandError(f"{username} has no authenticator key: this user signs in with a password only.")
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
        self.stdout.write(f"{code:0{device.digits}d}")
