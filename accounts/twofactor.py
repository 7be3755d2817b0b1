"""Two-factor authentication (TOTP, with recovery codes): who needs it, and the gate that holds a session until done.

Approvers can have servers isolated and files deleted on thousands of endpoints, and
superusers and staff can make anyone an approver: a password alone is not enough for
them. After the password, such a user enters a code from an authenticator app (or a
recovery code) before anything else; one who has no authenticator yet is sent to set
one up and can do nothing else until it is confirmed. Anybody else who chose to set
one up is asked for the code too: an enrolled account is protected whatever its role.

django-otp does the cryptography and the bookkeeping: ``OTPMiddleware`` puts the device
that verified this session on ``request.user.otp_device`` (``is_verified()``), TOTP
devices refuse a code already used, and every device slows down guessing (1, 2, 4...
seconds after each wrong code). Wrong codes also count as failed logins for the
lockout (django-axes), like wrong passwords.
"""

from __future__ import annotations

import logging
from base64 import b32encode
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import gettext as _
from django_otp import devices_for_user, user_has_device
from django_otp import verify_token as otp_verify_token
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from accounts import directory, identity

log = logging.getLogger(__name__)

# Set at login when the user has a confirmed device, so that an enrolled user who needs
# no 2FA by role is asked for the code too (without two queries on every request).
PENDING_SESSION_KEY = "portal_2fa_pending"
VERIFY = "verify"
ENROL = "enrol"
RECOVERY_CODES = 10
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


def required(user) -> bool:
    """Whether this user must use two-factor authentication: approvers, and whoever reaches the admin."""
    return identity.must_use_two_factor(user)


def pending_step(request: HttpRequest) -> str | None:
    """VERIFY (enter a code), ENROL (set up an authenticator) or None (nothing stands in the way)."""
    user = request.user
    if not user.is_authenticated or user.is_verified() or directory.login_carried_mfa(request):
        return None
    needed = required(user)
    if not needed and not request.session.get(PENDING_SESSION_KEY):
        return None
    if user_has_device(user, confirmed=True):
        return VERIFY
    return ENROL if needed else None


def confirmed_totp(user) -> TOTPDevice | None:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


def recovery_device(user) -> StaticDevice | None:
    return StaticDevice.objects.devices_for_user(user, confirmed=True).first()


def normalise_code(code: str) -> str:
    # People type "123 456" or "ABCD EFGH" as shown; recovery codes are stored in lower case.
    return "".join(str(code or "").split()).lower()


def is_totp_code(code: str) -> bool:
    return code.isdigit() and len(code) in (6, 8)


def verify_code(request: HttpRequest, user, code: str) -> tuple[Device | None, str]:
    """(the device that accepted ``code``, "") or (None, why not, for the user).

    A six-digit code goes to the authenticator, anything else to the recovery codes:
    trying a recovery code on the TOTP device would count as a wrong code there (and
    slow the next one down). A used recovery code is deleted: it works once.
    """
    code = normalise_code(code)
    if not code:
        return None, _("Enter the code.")
    model = TOTPDevice if is_totp_code(code) else StaticDevice
    devices = list(model.objects.devices_for_user(user, confirmed=True))
    for device in devices:
        allowed, _info = device.verify_is_allowed()
        if not allowed:
            # Not counted as another failure: waiting is the answer.
            return None, _("Too many wrong codes: wait a few seconds, then try again.")
        verified = otp_verify_token(user, device.persistent_id, code)
        if verified is not None:
            return verified, ""
    record_failure(request, user, "a wrong one-time code")
    if not devices and model is StaticDevice:
        return None, _("That is not a valid code. Enter the six digits your authenticator app shows.")
    return None, _("That code is not valid. Codes change every 30 seconds and each one works once.")


def record_failure(request: HttpRequest, user, what: str) -> None:
    """Count a wrong second factor like a wrong password: the lockout (django-axes) sees both."""
    log.warning("%s for user %s from %s", what, user.get_username(), request.META.get("REMOTE_ADDR", "?"))
    user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=request)


def new_recovery_codes(user) -> list[str]:
    """Replaces the user's recovery codes with RECOVERY_CODES new ones, returned to be shown once."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def remove_devices(user) -> None:
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=None):
            device.delete()


def format_secret(device: TOTPDevice) -> str:
    """The key in base32, as authenticator apps take it when typed, in groups of four."""
    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# --- The gate ---------------------------------------------------------------------------------


def _open_paths(step: str) -> set[str]:
    common = {reverse("logout"), reverse("set_language")}
    return common | ({reverse("two_factor_verify")} if step == VERIFY else {reverse("two_factor_setup")})


def ignores_the_session(path: str) -> bool:
    """Whether the view ``path`` leads to never looks at the session (the token-only API).

    Decided by the view, never by the request: an ``Authorization`` header is the
    client's word and proves nothing until DRF checks the token, which happens in
    the view. A DRF view that authenticates by ``ApiTokenAuthentication`` alone sets
    ``request.user`` to the token's user (or AnonymousUser), so a half-logged-in
    session beside it grants nothing there. Views that accept the session (the API
    schema, its docs, every page) stay behind the gate, whatever the headers say.
    """
    try:
        view = resolve(path).func
    except Resolver404:
        return False  # the 404 page is a page like any other
    view_class = getattr(view, "cls", None)
    if not (isinstance(view_class, type) and issubclass(view_class, APIView)):
        return False
    initkwargs = getattr(view, "initkwargs", None) or {}
    authenticators = initkwargs.get("authentication_classes", view_class.authentication_classes)
    return bool(authenticators) and not any(
        not isinstance(authenticator, type) or issubclass(authenticator, SessionAuthentication)
        for authenticator in authenticators
    )


class TwoFactorMiddleware:
    """Sends a logged-in user who still owes a second factor to the code page or to enrolment.

    Goes after django_otp's OTPMiddleware. Only logging out, switching the language and
    the page of the step itself stay open meanwhile, and the token-only API (which
    ignores the session). The request's headers play no part: a client cannot talk
    its way past the gate.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
            step = pending_step(request)
            if step is not None and request.path not in _open_paths(step) and not ignores_the_session(request.path_info):
                target = reverse("two_factor_verify" if step == VERIFY else "two_factor_setup")
                return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


def owes_code_at_login(user) -> bool:
    """Whether a password is only half of this user's proof: they enrolled, or their role requires a code."""
    return user_has_device(user, confirmed=True) or required(user)


def _on_login(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    if user_has_device(user, confirmed=True):
        request.session[PENDING_SESSION_KEY] = True


def connect_signals() -> None:
    # The step-up clock at login is stepup's own receiver: stepup needs this module, not the reverse.
    user_logged_in.connect(_on_login, dispatch_uid="accounts.twofactor.on_login")


def register_auditlog() -> None:
    """Who enrolled or removed a second factor is audited; the keys and codes never are."""
    from auditlog.registry import auditlog

    auditlog.register(TOTPDevice, include_fields=["name", "confirmed", "user"])
    auditlog.register(StaticDevice, include_fields=["name", "confirmed", "user"])
