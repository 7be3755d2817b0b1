"""Give a local user their KSC servers (tenants, issue 26 point 5; accounts/tenants.py).

    manage.py scope_user alice --servers eu,apac     # works on these servers only
    manage.py scope_user dave --all                  # a global auditor or administrator: every server
    manage.py scope_user mallory --none              # no server at all
    manage.py scope_user alice                       # shows the scope, changes nothing

Every change is an AccountEvent ("scope_changed", before and after) in the accounts chain.
A directory user's servers follow TENANT_GROUPS at every sign-in: set them there instead.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import tenants
from accounts.models import DirectoryAccount, ServerScope


def _configured() -> list[str]:
    return tenants.configured_servers()


class Command(BaseCommand):
    help = "Set the KSC servers (tenants) a user works on: --servers NAME[,NAME], --all or --none."

    def add_arguments(self, parser):
        parser.add_argument("username", help="the portal account")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--servers", help="comma-separated names of KSC servers from KSC_SERVERS_FILE")
        which.add_argument("--all", action="store_true", help="every server (global auditors, administrators)")
        which.add_argument("--none", action="store_true", help="no server")

    def handle(self, *args, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: options["username"]})
        except User.DoesNotExist:
            raise CommandError(f"There is no user {options['username']!r}.") from None
        scope = ServerScope.objects.filter(user=user).first()
        if options["servers"] is None and not options["all"] and not options["none"]:
            self.stdout.write(f"{user.get_username()}: {_words(scope)}")
            return
        if settings.TENANT_GROUPS and DirectoryAccount.objects.filter(user=user).exists():
            raise CommandError(
                f"{user.get_username()!r} signs in through the directory: TENANT_GROUPS sets their servers at every "
                "sign-in. Change their groups in the directory, or TENANT_GROUPS."
            )
        servers: list[str] = []
        if options["servers"] is not None:
            servers = [name.strip() for name in options["servers"].split(",") if name.strip()]
            if not servers:
                raise CommandError("--servers needs at least one server name (or use --none).")
            configured = _configured()
            unknown = [name for name in servers if name not in configured]
            if unknown:
                raise CommandError(
                    f"--servers: no KSC server named {', '.join(map(repr, unknown))}; "
                    f"the configured servers are {', '.join(configured)}."
                )
        changed = tenants.set_scope(user, every_server=options["all"], servers=servers)
        scope = ServerScope.objects.get(user=user)
        self.stdout.write(f"{user.get_username()}: {_words(scope)}" + ("" if changed else " (unchanged)"))


def _words(scope: ServerScope | None) -> str:
    if scope is None:
        return "no scope (every server while one is configured, none from the second on)"
    if scope.every_server:
        return "every server"
    return "servers " + ", ".join(scope.servers) if scope.servers else "no server"
