"""Step-up ("sudo mode"): a decision needs an authentication of the last STEP_UP_SECONDS.

A session cookie stolen from a browser, or a workstation left unlocked, must not be
enough to approve the isolation of a server. So approving, rejecting and retrying
in the browser (and the account page's changes to the second factor) first ask the
user to prove again who they are when their last proof is older than STEP_UP_SECONDS
(10 minutes): the code from their authenticator app when they have one, else their
password. Logging in counts as such a proof: the code after the password for a
user who has a second factor (or must set one up), the password for anyone else.

As Healthchecks' ``require_sudo_mode`` does, the decorated view answers the stale POST
with the confirmation form, which posts back to the same URL with everything the
first POST carried (the comment, the page to return to) and the code. On a good code
the view runs on that POST as if nothing had happened, so nothing typed is lost and
no redirect is involved. The API is token-based and out of this scope.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import authenticate, logout
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import directory, twofactor

log = logging.getLogger(__name__)

SESSION_KEY = "portal_authenticated_at"  # Unix time of the user's last proof of identity
PASSWORD_FIELD = "stepup_password"
CODE_FIELD = "stepup_code"
# Never carried into the confirmation form: the old CSRF token is replaced, credentials are not echoed.
NOT_CARRIED = {"csrfmiddlewaretoken", PASSWORD_FIELD, CODE_FIELD}

ACTION_LABELS = {
    "approve": gettext_lazy("Approve the request"),
    "reject": gettext_lazy("Reject the request"),
    "cancel": gettext_lazy("Cancel the request"),
    "retry": gettext_lazy("Send the request to KSC again"),
}


def mark_fresh(request: HttpRequest) -> None:
    mark_fresh_session(request.session)


def mark_fresh_session(session) -> None:
    """The user proved who they are just now (the second factor, or the password of a user without one)."""
    session[SESSION_KEY] = int(time.time())


def _on_login(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    if twofactor.owes_code_at_login(user):
        # The password alone is half a proof: the step-up clock starts when the code is
        # verified or the authenticator confirmed (account_views._after_second_factor), so a
        # session that never got past the password is never "fresh" for a decision.
        request.session.pop(SESSION_KEY, None)
    else:
        # For a user without a second factor the password is the whole proof.
        mark_fresh(request)


def connect_signals() -> None:
    user_logged_in.connect(_on_login, dispatch_uid="accounts.stepup.on_login")


def is_fresh(request: HttpRequest) -> bool:
    at = request.session.get(SESSION_KEY)
    if not isinstance(at, int):
        return False
    age = time.time() - at
    return -60 <= age < settings.STEP_UP_SECONDS  # a clock a little behind is no reason to refuse


def has_code(user) -> bool:
    """Whether the user's proof is a code (an authenticator, or recovery codes), not a password alone."""
    return twofactor.confirmed_totp(user) is not None or twofactor.recovery_device(user) is not None


def _confirm(request: HttpRequest) -> str:
    """ "" when the POST proves who the user is; otherwise why not."""
    user = request.user
    if has_code(user):
        device, error = twofactor.verify_code(request, user, request.POST.get(CODE_FIELD, ""))
        return "" if device is not None else error
    password = request.POST.get(PASSWORD_FIELD, "")
    # Through the authentication backends, so that django-axes counts a wrong password here too.
    confirmed = authenticate(request, username=user.get_username(), password=password) if password else None
    if confirmed is not None and confirmed.pk == user.pk:
        return ""
    return _("Wrong password.")


def require_step_up(
    view: Callable | None = None, *, actions: Iterable[str] | None = None, purpose: str = ""
) -> Callable:
    """Decorate a POST view so that it runs only within STEP_UP_SECONDS of the user's last proof of identity.

    ``actions``: only when the URL's ``action`` argument is one of these (the act view
    also cancels, which needs no step-up). ``purpose``: what the form says is at stake.
    """
    only = frozenset(actions) if actions is not None else None

    def decorator(view_func: Callable) -> Callable:
        @functools.wraps(view_func)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if (only is not None and kwargs.get("action") not in only) or is_fresh(request):
                return view_func(request, *args, **kwargs)
            error = ""
            if request.method == "POST" and (PASSWORD_FIELD in request.POST or CODE_FIELD in request.POST):
                error = _confirm(request)
                if not error:
                    mark_fresh(request)
                    log.info("step-up: %s confirmed their identity for %s", request.user.get_username(), request.path)
                    return view_func(request, *args, **kwargs)
                if getattr(request, "axes_locked_out", False):
                    # Too many wrong codes or passwords: django-axes answers with the lockout page.
                    logout(request)
                    return HttpResponse(status=429)
            return _form(request, kwargs, purpose, error)

        return wrapper

    return decorator(view) if view is not None else decorator


def _form(request: HttpRequest, kwargs: dict, purpose: str, error: str) -> HttpResponse:
    carried = [(name, value) for name, values in request.POST.lists() if name not in NOT_CARRIED for value in values]
    key = kwargs.get("key")
    back = request.POST.get("next", "")
    if key is not None:
        back_url = reverse("responses:detail", kwargs={"key": key})
    elif back and url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back_url = back
    else:
        back_url = reverse("account")
    context = {
        "purpose": purpose or ACTION_LABELS.get(kwargs.get("action", ""), ""),
        "key": key,
        "comment": request.POST.get("comment", ""),
        "carried": carried,
        "back_url": back_url,
        "uses_code": has_code(request.user),
        # Signed in with the identity provider and no portal code: a fresh login there instead.
        "provider_url": provider_step_up_url(request, back_url),
        "error": error,
        "minutes": max(1, settings.STEP_UP_SECONDS // 60),
        "code_field": CODE_FIELD,
        "password_field": PASSWORD_FIELD,
    }
    # 403: what was asked is not done (yet); the page says how to do it.
    response = render(request, "accounts/step_up.html", context, status=403)
    response["Cache-Control"] = "no-store"
    return response


def provider_step_up_url(request: HttpRequest, back: str) -> str:
    """Where a step-up goes for a user signed in with the OpenID Connect provider ("" for anyone else)."""
    if not (settings.OIDC_ISSUER and directory.signed_in_with_provider(request)):
        return ""
    return f"{reverse('oidc_step_up')}?{urlencode({'next': back})}"
