"""Demo users for `make run`: one per role, with generated passwords printed once.

Approvers and the administrator must use two-factor authentication, in the demo too:
they get an authenticator key, printed once beside the password, to add to an
authenticator app (or to compute codes with, as tests/test_make_run.py does).
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import identity, roles, tenants, twofactor

DEMO_USERS = [
    # (username, role or None for the administrator, description, KSC servers: None for every server)
    ("alice", roles.ANALYSTS, "analyst", None),
    ("bob", roles.APPROVERS, "approver", None),
    ("carol", roles.APPROVERS, "approver", None),
    ("dave", roles.AUDITORS, "auditor", None),
    ("admin", None, "administrator (superuser)", None),
]
# Two tenants, one per virtual server of `make run`'s simulated hierarchy (portal/launcher.py): made
# only when those servers are configured. Each sees nothing of the other (README, "Several KSC servers").
TENANT_USERS = [
    ("ann", roles.ANALYSTS, "analyst of tenant acme", ["acme"]),
    ("arno", roles.APPROVERS, "approver of tenant acme", ["acme"]),
    ("gina", roles.ANALYSTS, "analyst of tenant globex", ["globex"]),
    ("gus", roles.APPROVERS, "approver of tenant globex", ["globex"]),
]


class Command(BaseCommand):
    help = (
        "Create the demo users alice (analyst), bob and carol (approvers), dave (auditor) and admin "
        "(superuser), working on every KSC server, and, when the servers acme and globex are configured, "
        "their tenants' ann and gina (analysts), arno and gus (approvers), with generated passwords, printed "
        "once, and authenticator (TOTP) keys for the approvers and admin, printed once too. Existing users "
        "are kept as they are."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="give the existing demo users new passwords and authenticator keys, printed once",
        )

    def handle(self, *args, **options):
        User = get_user_model()
        lines = []
        configured = set(tenants.configured_servers())
        tenants_wanted = [user for user in TENANT_USERS if set(user[3]) <= configured]
        with transaction.atomic():
            for username, role, description, servers in DEMO_USERS + tenants_wanted:
                user = User.objects.filter(username=username).first()
                if user is not None and not options["reset_passwords"]:
                    lines.append(f"  {username:<6} {description}: exists, password unchanged")
                    tenants.set_scope(user, every_server=servers is None, servers=servers or [])
                    continue
                password = secrets.token_urlsafe(12)
                if user is None:
                    user = User(username=username, email=f"{username}@demo.invalid")
                user.set_password(password)
                if role is None:
                    user.is_staff = user.is_superuser = True
                user.save()
                if role is not None:
                    user.groups.add(Group.objects.get_or_create(name=role)[0])
                # The global users work on every server, explicitly; the tenants' on theirs only.
                tenants.set_scope(user, every_server=servers is None, servers=servers or [])
                lines.append(f"  {username:<6} {description}: password {password}")
                user = User.objects.get(pk=user.pk)  # its roles as they are now
                if identity.must_use_two_factor(user):
                    twofactor.remove_devices(user)
                    device = TOTPDevice.objects.create(user=user, name=twofactor.TOTP_NAME, confirmed=True)
                    secret = twofactor.format_secret(device).replace(" ", "")
                    lines.append(f"  {'':<6} authenticator key (TOTP, 6 digits, 30 s): {secret}")
        self.stdout.write(
            "Demo users (passwords are shown only now; so are the keys that approvers and admin add to an "
            "authenticator app, for the code that logging in asks for):\n" + "\n".join(lines)
        )
