"""What django-axes counts, and under which name (AXES_USERNAME_CALLABLE, AXES_HANDLER in portal/settings.py).

The lockout stops someone guessing a password: LOGIN_FAILURE_LIMIT failures of one name
from one address lock that pair. Two kinds of sign-in failure are no guess and do not count:

- A refusal by the directory (``directory.refuse``): the directory or the provider knew the
  person and the portal would not let them in (in no mapped group, deactivated...), or the
  directory did not answer. The password, if any, was not what failed.
- A failure with no name to key it on. An OpenID Connect callback carries no username; before
  its ID token is verified nobody is known. django-axes used to count such failures under an
  empty username and the client address, so five refused provider logins locked every provider
  login from that address (behind the reverse proxy: everyone's) for LOGIN_LOCKOUT_SECONDS.

Both are still written to AccessFailureLog for auditors, and logged. Once an ID token is
verified, the provider's subject is the name (``oidc:<sub>``): accounts/oidc.py checks it then.
"""

from __future__ import annotations

import hashlib
import logging

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessFailureLog
from django.db import transaction
from django.http import HttpRequest

log = logging.getLogger(__name__)

OIDC_ATTEMPT_ATTRIBUTE = "oidc_attempt"  # set on the request once an ID token is verified
MAX_USERNAME = 255  # django-axes' username columns are varchar(255)


def oidc_key(subject: str) -> str:
    """The name django-axes keeps for a provider login: the subject, immutable at the provider."""
    key = f"oidc:{subject}"
    if len(key) > MAX_USERNAME:
        key = "oidc:sha256:" + hashlib.sha256(subject.encode()).hexdigest()
    return key


def attempted_username(request: HttpRequest | None, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: the name a failure or a lockout check is about; None when nobody is known."""
    attempt = getattr(request, OIDC_ATTEMPT_ATTRIBUTE, None)
    if attempt:
        return attempt
    if credentials is not None:
        username = credentials.get("username")
    elif request is not None:
        username = getattr(request, "data", request.POST).get("username")
    else:
        username = None
    if not isinstance(username, str) or not username:
        return None
    return username[:MAX_USERNAME]


class LockoutHandler(AxesDatabaseHandler):
    """django-axes' database handler, counting only failures that can be a guess, each under a name."""

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if request is None or getattr(request, "axes_locked_out", False):
            return super().user_login_failed(sender, credentials, request=request, **kwargs)
        username = get_client_username(request, credentials)
        refusal = getattr(request, "directory_refusal", None)
        if refusal or not username:
            log.info(
                "sign-in failure not counted towards the lockout: %s",
                "refused by the directory" if refusal else "no name to count it under",
            )
            self._record_only(request, username)
            return None
        return super().user_login_failed(sender, credentials, request=request, **kwargs)

    def _record_only(self, request: HttpRequest, username: str | None) -> None:
        with transaction.atomic():
            AccessFailureLog.objects.create(
                username=username,
                ip_address=request.axes_ip_address,
                user_agent=request.axes_user_agent,
                http_accept=request.axes_http_accept,
                path_info=request.axes_path_info,
                attempt_time=request.axes_attempt_time,
                locked_out=False,
            )
            if username:
                self.remove_out_of_limit_failure_logs(username=username)  # django-axes' cap per name, as for others
