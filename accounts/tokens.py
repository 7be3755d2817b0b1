"""API tokens, issued and authenticated: ``Authorization: Token <key>``, keys stored only as their sha256.

A key is shown once, when issued (``manage.py create_api_token``); the database
holds its hash, its first characters (to tell tokens apart) and its lifetime.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from accounts.models import ApiToken
from accounts.scopes import TokenScope

KEYWORD = "Token"
# A recognisable prefix lets secret scanners (and people) spot a leaked key.
KEY_PREFIX = "edr_"
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 6
# Stamping last_used_at on every call would turn every GET into a write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def issue_token(
    user, *, name: str = "", expires_at: dt.datetime | None = None, scope: str = TokenScope.FILE
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the key, which is never available again.

    ``scope``: TokenScope.FILE (file and read) unless decisions through the API are meant.
    """
    if scope not in TokenScope.values:
        raise ValueError(f"unknown token scope {scope!r}; one of: {', '.join(TokenScope.values)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        key_prefix=key[:SHOWN_PREFIX_LENGTH],
        key_hash=hash_key(key),
        expires_at=expires_at,
        scope=scope,
    )
    return token, key


class ApiTokenAuthentication(BaseAuthentication):
    """DRF authentication by an ApiToken; answers 401 with ``WWW-Authenticate: Token`` when refused."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None  # no token given: anonymous, so the permission check answers 401
        if len(parts) != 2:
            raise AuthenticationFailed(_("Malformed Authorization header: send 'Token <key>'."))
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(_("Invalid token.")) from None
        return self.authenticate_key(key)

    def authenticate_key(self, key: str):
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
        if token is None:
            raise AuthenticationFailed(_("Invalid token."))
        now = timezone.now()
        if token.revoked_at is not None:
            raise AuthenticationFailed(_("This token was revoked."))
        if token.expires_at is not None and token.expires_at <= now:
            raise AuthenticationFailed(
                _("This token expired on %(date)s.")
                % {"date": token.expires_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}
            )
        if not token.user.is_active:
            raise AuthenticationFailed(_("This token's user account is disabled."))
        if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="api"'
