"""Revoke API tokens: one by its key or the prefix shown for it, or every active token of a user.

A revoked token is refused at once (401, "This token was revoked.") and stays listed,
with when it was revoked; django-auditlog records who revoked what.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import ApiToken
from accounts.tokens import KEY_PREFIX, SHOWN_PREFIX_LENGTH, hash_key


class Command(BaseCommand):
    help = (
        "Revoke an API token, named by its key (a leaked key, pasted) or by the prefix shown for it "
        "(edr_xxxxxx, as on the account page and in create_api_token's output); or, with --user and no "
        "token, every active token of that user."
    )

    def add_arguments(self, parser):
        parser.add_argument("token", nargs="?", help="the key, or its prefix (e.g. edr_AbC123)")
        parser.add_argument("--user", help="only tokens of this user; alone: all of this user's active tokens")

    def handle(self, *args, **options):
        token_text = (options["token"] or "").strip().rstrip("…")
        username = options["user"]
        if not token_text and not username:
            raise CommandError("Name a token (its key or prefix), or a user with --user.")
        tokens = ApiToken.objects.select_related("user").filter(revoked_at__isnull=True)
        if username:
            User = get_user_model()
            if not User.objects.filter(**{User.USERNAME_FIELD: username}).exists():
                raise CommandError(f"No user {username!r}.")
            tokens = tokens.filter(**{f"user__{User.USERNAME_FIELD}": username})
        if token_text:
            if not token_text.startswith(KEY_PREFIX):
                raise CommandError(f"A token's key and prefix start with {KEY_PREFIX!r}.")
            if len(token_text) > SHOWN_PREFIX_LENGTH:
                tokens = tokens.filter(key_hash=hash_key(token_text))  # a whole key: exactly that token
            else:
                tokens = tokens.filter(key_prefix=token_text)
        found = list(tokens)
        if not found:
            raise CommandError("No active token matches (it may be revoked already).")
        if token_text and len(found) > 1:
            owners = ", ".join(sorted({token.user.get_username() for token in found}))
            raise CommandError(f"{len(found)} active tokens have this prefix (users: {owners}); add --user.")
        now = timezone.now()
        for token in found:
            token.revoked_at = now
            token.save(update_fields=["revoked_at"])  # save(), not update(): django-auditlog records it
            self.stdout.write(
                f"Revoked {token.key_prefix}… of {token.user.get_username()}"
                + (f" ({token.name})" if token.name else "")
            )
