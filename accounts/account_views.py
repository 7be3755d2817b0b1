"""The account pages: the second factor (verify, enrol, recovery codes, remove) and the user's own API tokens.

Also what django-axes shows and logs when it locks a login out. The policy (who
needs 2FA, the gate) is in accounts/twofactor.py; step-up in accounts/stepup.py.
"""

from __future__ import annotations

import logging
from typing import Any

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import identity, stepup, twofactor
from accounts.models import ApiToken

log = logging.getLogger(__name__)


def _next_url(request: HttpRequest, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


def _shown_once(response: HttpResponse) -> HttpResponse:
    # Secrets on this page must not stay in a cache or come back with the Back button.
    response["Cache-Control"] = "no-store"
    return response


def _after_second_factor(request: HttpRequest, device) -> None:
    otp_login(request, device)
    # A new session key for the more trusted session: a key planted before is of no use.
    request.session.cycle_key()
    stepup.mark_fresh(request)


# --- The code after the password ----------------------------------------------------------------


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """After the password: the code from the authenticator app, or a recovery code."""
    if twofactor.pending_step(request) != twofactor.VERIFY:
        return redirect(_next_url(request))
    error = ""
    if request.method == "POST":
        device, error = twofactor.verify_code(request, request.user, request.POST.get("code", ""))
        if device is not None:
            _after_second_factor(request, device)
            if device.persistent_id.startswith("otp_static"):
                left = device.token_set.count()
                log.warning("user %s logged in with a recovery code; %d left", request.user.get_username(), left)
                messages.warning(
                    request,
                    _("You used a recovery code; %(left)d are left. Lost your phone? Set up the app again here.")
                    % {"left": left},
                )
                return redirect("account")
            return redirect(_next_url(request))
        if getattr(request, "axes_locked_out", False):
            logout(request)  # django-axes answers with the lockout page
    return render(request, "accounts/verify.html", {"error": error, "next": _next_url(request, "")})


# --- The account page ---------------------------------------------------------------------------


@never_cache
@login_required
@require_http_methods(["GET"])
def account(request: HttpRequest) -> HttpResponse:
    user = request.user
    recovery = twofactor.recovery_device(user)
    context: dict[str, Any] = {
        "roles": identity.roles_of(user),
        "required": identity.must_use_two_factor(user),
        "totp": twofactor.confirmed_totp(user),
        "recovery_left": recovery.token_set.count() if recovery is not None else 0,
        "tokens": list(ApiToken.objects.filter(user=user).order_by("-created_at")),
        "now": timezone.now(),
        "step_up_minutes": max(1, settings.STEP_UP_SECONDS // 60),
    }
    return render(request, "accounts/account.html", context)


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    # Our own markup from our own URI: an SVG element, no script, so the CSP allows it inline.
    return mark_safe(image.to_string(encoding="unicode"))  # noqa: S308


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """Enrolment: scan (or type) the key, confirm with a code, get the recovery codes once."""
    user = request.user
    if twofactor.confirmed_totp(user) is not None:
        messages.info(request, _("Two-factor authentication is already set up."))
        return redirect("account")
    # One pending device per user: reloading the page shows the same key (it may be scanned already).
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=twofactor.TOTP_NAME, confirmed=False)
    error = ""
    if request.method == "POST":
        code = twofactor.normalise_code(request.POST.get("code", ""))
        allowed, _info = device.verify_is_allowed()
        if not allowed:
            error = _("Too many wrong codes: wait a few seconds, then try again.")
        elif twofactor.is_totp_code(code) and device.verify_token(code):
            with transaction.atomic():
                device.confirmed = True
                device.save()
                TOTPDevice.objects.filter(user=user, confirmed=False).delete()
                codes = twofactor.new_recovery_codes(user)
            _after_second_factor(request, device)
            log.info("user %s set up two-factor authentication", user.get_username())
            return _shown_once(
                render(request, "accounts/recovery_codes.html", {"codes": codes, "next": _next_url(request, "")})
            )
        else:
            error = _("That code is not valid. Check the time on your phone, and enter the code it shows now.")
    context = {
        "uri": device.config_url,
        "secret": twofactor.format_secret(device),
        "qr": _qr_svg(device.config_url),
        "error": error,
        "required": identity.must_use_two_factor(user),
        "next": _next_url(request, ""),
    }
    return _shown_once(render(request, "accounts/setup.html", context))


@login_required
@require_POST
@stepup.require_step_up(purpose=gettext_lazy("Make new recovery codes"))
def recovery_codes(request: HttpRequest) -> HttpResponse:
    user = request.user
    if twofactor.confirmed_totp(user) is None:
        return redirect("two_factor_setup")
    codes = twofactor.new_recovery_codes(user)
    log.info("user %s made new recovery codes", user.get_username())
    return _shown_once(render(request, "accounts/recovery_codes.html", {"codes": codes, "next": ""}))


@login_required
@require_POST
@stepup.require_step_up(purpose=gettext_lazy("Remove two-factor authentication"))
def remove_two_factor(request: HttpRequest) -> HttpResponse:
    """For a new phone: remove the authenticator and the recovery codes; set up again (required roles must)."""
    user = request.user
    twofactor.remove_devices(user)
    log.warning("user %s removed their two-factor authentication", user.get_username())
    if identity.must_use_two_factor(user):
        messages.warning(request, _("Two-factor authentication was removed. Your role requires it: set it up again."))
        return redirect("two_factor_setup")
    messages.success(request, _("Two-factor authentication was removed."))
    return redirect("account")


@login_required
@require_POST
def revoke_token(request: HttpRequest) -> HttpResponse:
    """Revoke one of the user's own API tokens, named by its prefix (integer ids never leave the server)."""
    prefix = request.POST.get("token", "")
    tokens = list(ApiToken.objects.filter(user=request.user, key_prefix=prefix, revoked_at__isnull=True))
    if not prefix or not tokens:
        messages.error(request, _("No such active token of yours."))
        return redirect("account")
    now = timezone.now()
    for token in tokens:
        token.revoked_at = now
        token.save(update_fields=["revoked_at"])  # save(), not update(): django-auditlog records it
    log.info("user %s revoked API token %s…", request.user.get_username(), prefix)
    messages.success(request, _("Token %(prefix)s… is revoked: it no longer works.") % {"prefix": prefix})
    return redirect("account")


# --- Lockout (django-axes) ----------------------------------------------------------------------


def locked_out(request: HttpRequest, original_response: HttpResponse | None = None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the lockout page, in the user's language, with 429."""
    minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
    response = render(request, "accounts/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(settings.LOGIN_LOCKOUT_SECONDS)
    return response


def _on_locked_out(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    # The lockout is an event an operator must see: a log line (the SIEM reads it) beside
    # django-axes' AccessAttempt and AccessFailureLog rows (auditors read them in the admin).
    log.warning(
        "login locked out: user %r from %s after %d failed attempts; locked for %d s",
        username,
        ip_address,
        settings.AXES_FAILURE_LIMIT,
        settings.LOGIN_LOCKOUT_SECONDS,
    )


def connect_signals() -> None:
    from axes.signals import user_locked_out

    receiver(user_locked_out, dispatch_uid="accounts.account_views.on_locked_out")(_on_locked_out)
