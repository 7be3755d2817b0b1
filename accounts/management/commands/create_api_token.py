"""Issue an API token for a user and print its key, once.

The key goes alone to stdout, so that a script can capture it
(``KEY=$(manage.py create_api_token kuma)``); what it is for goes to stderr.
Only the key's hash is stored: lose it and issue a new one.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts import identity
from accounts.models import TokenScope
from accounts.tokens import issue_token

MAX_DAYS = 3650


class Command(BaseCommand):
    help = (
        "Create an API token for a user and print its key (shown only this once). "
        "The token acts with the user's roles: make a dedicated user, e.g. 'kuma' in Analysts, for a SIEM."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="the user the token acts as")
        parser.add_argument(
            "--expires-in-days",
            type=int,
            metavar="N",
            help=f"the token stops working after N days (1 to {MAX_DAYS}); default: no expiry",
        )
        parser.add_argument("--name", default="", help="what the token is for, e.g. 'KUMA production'")
        parser.add_argument(
            "--scope",
            choices=TokenScope.values,
            default=TokenScope.FILE,
            help=(
                "file (default): file requests and read them; decisions: also approve, reject and retry "
                "through the API, without the browser's second factor: only for an automation that must decide"
            ),
        )

    def handle(self, *args, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: options["username"]})
        except User.DoesNotExist:
            raise CommandError(
                f"No user {options['username']!r}; create it first (in the admin, or manage.py createsuperuser)."
            ) from None
        if not user.is_active:
            raise CommandError(f"User {user.get_username()!r} is disabled; its token could not be used.")
        days = options["expires_in_days"]
        if days is not None and not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--expires-in-days must be between 1 and {MAX_DAYS}.")
        name = options["name"].strip()
        if len(name) > 100 or any(ord(ch) < 32 for ch in name):
            raise CommandError("--name must be at most 100 characters, without control characters.")
        expires_at = timezone.now() + dt.timedelta(days=days) if days else None
        token, key = issue_token(user, name=name, expires_at=expires_at, scope=options["scope"])
        held = identity.roles_of(user)
        if not held:
            self.stderr.write(f"Warning: {user.get_username()} has no role; the token can authenticate but do nothing.")
        if identity.is_approver(user):
            # A token needs no second factor: whoever holds the key acts as this approver.
            self.stderr.write(
                f"Warning: {user.get_username()} is an approver; this token works without the second factor. "
                + (
                    "With --scope decisions it can approve, reject and retry: keep the key as you would the "
                    "approver's password and code together."
                    if token.scope == TokenScope.DECISIONS
                    else "It cannot decide (scope: file and read); a SIEM is better served by its own user in Analysts."
                )
            )
        self.stderr.write(
            f"Token {token.key_prefix}… for {user.get_username()} ({', '.join(held) or 'no role'}), "
            f"scope {token.scope} ({token.get_scope_display()}), "
            + (f"expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "no expiry")
            + ". The key below is shown only now; store it in the SIEM's secret store."
        )
        self.stdout.write(key)
