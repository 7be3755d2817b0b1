"""Sign-in with an OpenID Connect provider (Entra ID, Okta, Keycloak...) through mozilla-django-oidc.

mozilla-django-oidc runs the authorization-code flow with PKCE, keeps state and nonce per
login in the session and drops each after one use. What it leaves to the client is done
here: the endpoints from the issuer's discovery document (OIDC_ISSUER), the ID token's
signature *and* issuer, audience, expiry and nonce (it checks the signature and nonce
only), roles from the groups claim (accounts/directory.py), whether the provider did
multi-factor authentication (the ID token's ``amr`` has "mfa", or its ``acr`` is one of
OIDC_MFA_ACR; never the userinfo answer's), the e-mail only when verified, a
step-up that asks the provider for a fresh login, and logout at the provider.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import requests
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.core.validators import validate_email
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.http import require_GET, require_POST
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts import directory, lockout, stepup
from accounts.models import Source

log = logging.getLogger(__name__)

DISCOVERY_TTL = 3600  # seconds a discovery document is trusted before it is fetched again
LEEWAY = 60  # seconds of clock difference allowed between the provider and the portal
STEP_UP_SESSION_KEY = "accounts_oidc_step_up"
MFA_AMR = "mfa"  # RFC 8176: multiple-factor authentication


class ProviderUnavailable(Exception):
    """The provider's discovery document, keys or token endpoint could not be had."""


class TokenRejected(SuspiciousOperation):
    """The ID token is expired, not signed by the provider, not for this portal, or replayed."""

    def __init__(self, message: str, why: str):
        super().__init__(message)
        self.message, self.why = message, why


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    end_session_endpoint: str


_discovered: dict[str, tuple[float, Provider]] = {}


def provider() -> Provider:
    """The endpoints of OIDC_ISSUER, from its discovery document (cached for DISCOVERY_TTL)."""
    issuer = settings.OIDC_ISSUER
    cached = _discovered.get(issuer)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(f"{url}: {exc}") from None
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        # OpenID Connect Discovery 4.3: a document naming another issuer is not this provider's.
        raise ProviderUnavailable(f"{url} names issuer {document.get('issuer')!r}, not OIDC_ISSUER {issuer!r}")
    missing = [name for name in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not document.get(name)]
    if missing:
        raise ProviderUnavailable(f"{url} lacks {', '.join(missing)}")
    found = Provider(
        issuer=issuer,
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        userinfo_endpoint=document.get("userinfo_endpoint") or "",
        end_session_endpoint=document.get("end_session_endpoint") or "",
    )
    _discovered[issuer] = (time.monotonic() + DISCOVERY_TTL, found)
    return found


def oidc_setting(name: str, *default):
    """mozilla-django-oidc's settings, answered from the portal's own (README, "Sign-in")."""
    portal = {
        "OIDC_RP_CLIENT_ID": settings.OIDC_CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": settings.OIDC_CLIENT_SECRET,
        "OIDC_RP_SCOPES": settings.OIDC_SCOPES,
        "OIDC_USE_PKCE": True,
        "OIDC_USE_NONCE": True,
        "OIDC_TIMEOUT": settings.OIDC_TIMEOUT,
        "OIDC_VERIFY_SSL": True,
        "OIDC_VERIFY_KID": True,
        "OIDC_AUTHENTICATION_CALLBACK_URL": "oidc_callback",
        "OIDC_STORE_ACCESS_TOKEN": False,  # no provider token is kept in the session store
        "OIDC_STORE_ID_TOKEN": False,
        "LOGIN_REDIRECT_URL": settings.LOGIN_REDIRECT_URL,
    }
    if name in portal:
        return portal[name]
    return import_from_settings(name, *default)


def carried_mfa(claims: dict) -> bool:
    """Whether the provider says this login used multi-factor authentication."""
    amr = claims.get("amr")
    if isinstance(amr, list) and MFA_AMR in amr:
        return True
    acr = claims.get("acr")
    return isinstance(acr, str) and acr in settings.OIDC_MFA_ACR


def verified_email(claims: dict) -> str:
    """The ``email`` claim when the provider says it verified it and it is one plain address; else "".

    The address reaches the notifications' recipients: an unverified one could be anybody's
    (a self-service profile at the provider), and a list or a header line is no address.
    """
    email = claims.get("email")
    if claims.get("email_verified") is not True or not isinstance(email, str):
        return ""
    if len(email) > 254 or _NOT_IN_ONE_ADDRESS.search(email):
        return ""
    try:
        validate_email(email)
    except ValidationError:
        return ""
    return email


_NOT_IN_ONE_ADDRESS = re.compile(r'[\s,;:"<>()\[\]\\]|[^\x21-\x7e]')


def unavailable_message() -> str:
    return _(
        "Sign-in with %(provider)s is not available right now: the provider did not answer. "
        "Try again in a minute; a local break-glass account can still sign in below."
    ) % {"provider": settings.OIDC_PROVIDER_NAME}


class DirectoryOIDCBackend(OIDCAuthenticationBackend):
    """Signs in the person the provider's ID token names, with the roles of its groups claim."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        # Django builds every backend for every login, local ones too: no network here.
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_SIGN_ALGORITHMS[0]
        self.OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request, **kwargs):
        # Only the callback view calls with a nonce; a password login never reaches the provider.
        if request is None or "nonce" not in kwargs or not settings.OIDC_ISSUER:
            return None
        found = provider()
        self.OIDC_OP_TOKEN_ENDPOINT = found.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = found.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = found.jwks_uri
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        nonce = kwargs.get("nonce")
        invalid = _unverifiable()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenRejected(invalid, f"not a JWT: {exc}") from None
        algorithm = header.get("alg")
        if algorithm not in settings.OIDC_SIGN_ALGORITHMS:
            raise TokenRejected(invalid, f"signed with {algorithm!r}, not one of OIDC_SIGN_ALGORITHMS")
        key = self.retrieve_matching_jwk(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=settings.OIDC_SIGN_ALGORITHMS,
                audience=settings.OIDC_CLIENT_ID,
                issuer=settings.OIDC_ISSUER,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected(
                _("The sign-in answer from %(provider)s has expired. Sign in again.")
                % {"provider": settings.OIDC_PROVIDER_NAME},
                "expired ID token",
            ) from None
        except jwt.InvalidTokenError as exc:
            raise TokenRejected(invalid, f"ID token: {exc}") from None
        if not nonce or not constant_time_compare(str(claims.get("nonce", "")), nonce):
            # A token minted for another login (an old one replayed, or one from another browser).
            raise TokenRejected(invalid, "the ID token's nonce is not this login's")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != settings.OIDC_CLIENT_ID:
            raise TokenRejected(invalid, "the ID token was issued to another client (azp)")
        self._count_failures_as(str(claims["sub"]))
        return claims

    def _count_failures_as(self, subject: str) -> None:
        """From here on this sign-in is the provider subject's for the lockout: its failures and its check.

        Before the ID token was verified nobody was known, and nothing was counted
        (accounts/lockout.py); a subject locked out is refused now, as a locked username is.
        """
        request = getattr(self, "request", None)
        if request is None:
            return
        key = lockout.oidc_key(subject)
        setattr(request, lockout.OIDC_ATTEMPT_ATTRIBUTE, key)
        if not AxesProxyHandler.is_allowed(request, {"username": key}):
            request.axes_locked_out = True  # AxesMiddleware answers with the lockout page (429)
            raise AxesBackendPermissionDenied(f"{key} is locked out")

    def retrieve_matching_jwk(self, token):
        """The provider's key that the ID token's header names (``kid``); a token that names none is refused.

        mozilla-django-oidc's own lookup indexes ``kid`` in the header and in every key of the
        JWKS, so a token (or a key set) without one was an unauthenticated 500.
        """
        header = jwt.get_unverified_header(token)
        kid, algorithm = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected(_unverifiable(), "the ID token's header names no signing key (kid)")
        try:
            response = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            keys = response.json().get("keys")
        except (requests.RequestException, ValueError, AttributeError) as exc:
            raise ProviderUnavailable(f"{self.OIDC_OP_JWKS_ENDPOINT}: {exc}") from None
        matching = [
            candidate
            for candidate in (keys if isinstance(keys, list) else [])
            if isinstance(candidate, dict)
            and candidate.get("kid") == kid
            and candidate.get("alg", algorithm) == algorithm
        ]
        if len(matching) != 1:
            raise TokenRejected(_unverifiable(), f"{len(matching)} keys of the provider's JWKS match kid {kid!r}")
        try:
            return jwt.PyJWK(matching[0], algorithm=algorithm)
        except jwt.PyJWTError as exc:
            raise TokenRejected(_unverifiable(), f"the provider's key {kid!r}: {exc}") from None

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims, with the userinfo endpoint's added (groups may come from either)."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = super().get_userinfo(access_token, id_token, payload)
            if str(userinfo.get("sub")) != str(payload["sub"]):
                raise TokenRejected(_("The provider's answers disagree. Sign in again."), "userinfo sub differs")
            groups = _groups(payload) + [g for g in _groups(userinfo) if g not in _groups(payload)]
            claims = {**userinfo, **payload, settings.OIDC_GROUPS_CLAIM: groups}
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        request = self.request
        username = claims.get(settings.OIDC_USERNAME_CLAIM)
        if not isinstance(username, str) or not 0 < len(username.strip()) <= 150:
            raise directory.refuse(
                request,
                _("%(provider)s did not say who you are (claim %(claim)s). Ask your administrator.")
                % {"provider": settings.OIDC_PROVIDER_NAME, "claim": settings.OIDC_USERNAME_CLAIM},
                f"no usable {settings.OIDC_USERNAME_CLAIM} claim",
            )
        username = directory.clean_username(request, username)
        subject = f"{settings.OIDC_ISSUER}#{claims['sub']}"
        # Bound to this issuer and sub, or refused: never an LDAP account, a local one or another subject's.
        user = directory.bind(request, username, Source.OIDC, subject)
        roles = directory.roles_or_refuse(
            request, username, _groups(claims), user=user, source=Source.OIDC, subject=subject
        )
        person = directory.person_or_refuse(request, username, Source.OIDC, _link_claim(claims))
        names = {
            "email": verified_email(claims),
            "first_name": str(claims.get("given_name") or "")[:150],
            "last_name": str(claims.get("family_name") or "")[:150],
        }
        if user is None:
            user = self.UserModel(username=username, **names)
            user.set_unusable_password()
            user.save()
        else:
            self.UserModel.objects.filter(pk=user.pk).update(**names)
        directory.follow_directory(
            user, roles, source=Source.OIDC, subject=subject, origin="oidc", person=person, groups=_groups(claims)
        )
        user.refresh_from_db()
        if not user.is_active:
            raise directory.refuse(
                request, _("Your portal account is deactivated. Ask your administrator."), f"{username!r} inactive"
            )
        # What the login proved comes from the signed ID token alone: the userinfo answer is only
        # as good as the access token that fetched it, and says nothing about how the login went.
        request.oidc_login = {"mfa": carried_mfa(payload), "auth_time": payload.get("auth_time")}
        return user


def _link_claim(claims: dict):
    """The IDENTITY_LINK_ATTRIBUTE claim; an e-mail address only when the provider verified it."""
    name = settings.IDENTITY_LINK_ATTRIBUTE.get("oidc")
    if not name:
        return None
    if name == "email" and claims.get("email_verified") is not True:
        return None
    value = claims.get(name)
    return value if isinstance(value, str) else None


def _groups(claims: dict) -> list[str]:
    value = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(value, str):
        value = [value]
    return [group for group in value if isinstance(group, str)] if isinstance(value, list) else []


def _login_page(request: HttpRequest, message: str, status: int) -> HttpResponse:
    from accounts.views import LoginView

    request.method = "GET"  # the login page as shown, with the message above it
    response = LoginView.as_view(extra_context={"oidc_error": message}, redirect_authenticated_user=False)(request)
    response.status_code = status
    return response


class AuthenticationRequestView(OIDCAuthenticationRequestView):
    """GET /oidc/authenticate/: off to the provider, with state, nonce and a PKCE challenge."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        View.__init__(self, *args, **kwargs)  # the endpoint comes from discovery, in get()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID

    def get(self, request):
        if not settings.OIDC_ISSUER:
            raise Http404("OpenID Connect is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider().authorization_endpoint
        except ProviderUnavailable as exc:
            log.warning("OpenID Connect provider unavailable: %s", exc)
            return _login_page(request, unavailable_message(), 503)
        return super().get(request)

    def get_extra_params(self, request):
        if getattr(request, "oidc_step_up", False):
            # A fresh login at the provider, not its single sign-on session (OpenID Connect Core 3.1.2.1).
            return {"prompt": "login", "max_age": "0"}
        return {}


class CallbackView(OIDCAuthenticationCallbackView):
    """GET /oidc/callback/: the provider's answer; a login, or the confirmation of a step-up."""

    get_settings = staticmethod(oidc_setting)
    step_up: dict | None = None

    def get(self, request):
        if not settings.OIDC_ISSUER:
            raise Http404("OpenID Connect is not configured.")
        pending = request.session.get(STEP_UP_SESSION_KEY)
        if isinstance(pending, dict) and pending.get("state") == request.GET.get("state"):
            self.step_up = request.session.pop(STEP_UP_SESSION_KEY)
        if request.GET.get("error"):
            return self._provider_error(request)
        try:
            return super().get(request)
        except ProviderUnavailable as exc:
            log.warning("OpenID Connect provider unavailable: %s", exc)
            return _login_page(request, unavailable_message(), 503)
        except requests.RequestException as exc:
            # The token endpoint refused the code (used already, expired) or did not answer.
            log.warning("OpenID Connect token request failed: %s", exc)
            if _no_answer(exc):
                return _login_page(request, unavailable_message(), 503)
            return _login_page(request, _again(), 400)
        except TokenRejected as exc:
            log.warning("OpenID Connect sign-in refused: %s", exc.why)
            return _login_page(request, exc.message, 400)
        except SuspiciousOperation as exc:
            # An unknown state: this answer was used already, or was meant for another browser.
            log.warning("OpenID Connect sign-in refused: %s", exc)
            return _login_page(request, _again(), 400)

    def _provider_error(self, request: HttpRequest) -> HttpResponse:
        """The provider answered ``error=...`` (RFC 6749 4.1.2.1): the person cancelled, or it refused.

        Anyone can send a browser here with ``?error=...``: without this browser's own ``state``
        the answer is not from a login it started, so it ends no session and only the error's
        code (when it looks like one) is shown, never the link's free text. With the state of a
        login, that login is over (mozilla-django-oidc's behaviour); with the state of a
        step-up, only the step-up is.
        """
        state = request.GET.get("state", "")
        states = request.session.get("oidc_states")
        ours = isinstance(states, dict) and bool(state) and state in states
        code = request.GET.get("error", "")
        code = code if _ERROR_CODE.fullmatch(code) else "?"
        if ours:
            del states[state]
            request.session.modified = True
        log.warning(
            "OpenID Connect provider answered error %r (%s)",
            code,
            "this login's" if ours else "no login of this browser",
        )
        if not ours:
            return _login_page(request, _provider_said(code), 400)
        description = request.GET.get("error_description", "")[:200]
        message = _provider_said(code) + (f" ({description})" if description else "")
        if self.step_up is not None:
            messages.error(request, message)
            return redirect(self.step_up.get("next") or "/")
        if request.user.is_authenticated:
            auth.logout(request)
        return _login_page(request, message, 400)

    def login_failure(self):
        message = getattr(self.request, "directory_refusal", None) or _again()
        return _login_page(self.request, message, 403)

    def login_success(self):
        details = getattr(self.request, "oidc_login", {})
        if self.step_up is not None:
            return self._confirm_step_up(details)
        response = super().login_success()
        self.request.session[directory.PROVIDER_MFA_SESSION_KEY] = bool(details.get("mfa"))
        self.request.session[directory.SIGNED_IN_WITH_SESSION_KEY] = "oidc"
        if details.get("mfa"):
            # The provider's multi-factor login is the whole proof: the step-up clock starts
            # now (the gate popped it at user_logged_in, before the claim was known).
            stepup.mark_fresh(self.request)
        return response

    def _confirm_step_up(self, details: dict) -> HttpResponse:
        request, pending = self.request, self.step_up
        back = pending.get("next") or "/"
        if not request.user.is_authenticated or request.user.pk != self.user.pk or pending.get("user") != self.user.pk:
            auth.logout(request)
            return _login_page(request, _("You confirmed as someone else. Sign in again."), 403)
        auth_time = details.get("auth_time")
        if not isinstance(auth_time, int) or auth_time < pending.get("at", 0) - LEEWAY:
            messages.error(request, _("The provider did not ask for your password again, so nothing was confirmed."))
            return redirect(back)
        if directory.login_carried_mfa(request) and not details.get("mfa"):
            messages.error(request, _("The confirmation did not use multi-factor authentication. Try again."))
            return redirect(back)
        if stepup.has_code(request.user) and not details.get("mfa"):
            # The provider's password alone is less than the portal asks of this user (their
            # authenticator's code), whatever link they followed to get here.
            messages.error(
                request,
                _(
                    "The confirmation at %(provider)s did not use multi-factor authentication: "
                    "enter the code of your authenticator app instead."
                )
                % {"provider": settings.OIDC_PROVIDER_NAME},
            )
            return redirect(back)
        stepup.mark_fresh(request)
        log.info("step-up: %s confirmed their identity at the provider", request.user.get_username())
        messages.success(request, _("Identity confirmed. Do what you were about to do again."))
        return redirect(back)


_ERROR_CODE = re.compile(r"[a-z_]{1,64}")  # RFC 6749's error codes: access_denied, login_required...


def _provider_said(code: str) -> str:
    return _("Sign-in with %(provider)s did not complete: it answered %(error)s. Sign in again.") % {
        "provider": settings.OIDC_PROVIDER_NAME,
        "error": code,
    }


def _unverifiable() -> str:
    return _("The sign-in answer from %(provider)s could not be verified. Sign in again.") % {
        "provider": settings.OIDC_PROVIDER_NAME
    }


def _again() -> str:
    return _("Sign-in with %(provider)s did not complete. Sign in again.") % {"provider": settings.OIDC_PROVIDER_NAME}


def _no_answer(exc: requests.RequestException) -> bool:
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


@require_GET
@login_required
def start_step_up(request: HttpRequest) -> HttpResponse:
    """GET /oidc/step-up/?next=...: a fresh login at the provider, for the same person, proves it is still them."""
    if not (settings.OIDC_ISSUER and directory.signed_in_with_provider(request)):
        raise Http404("Not signed in with the provider.")
    back = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = "/"
    request.oidc_step_up = True
    response = AuthenticationRequestView.as_view()(request)
    state = parse_qs(urlsplit(response.get("Location", "")).query).get("state", [""])[0]
    if state:
        request.session[STEP_UP_SESSION_KEY] = {
            "state": state,
            "user": request.user.pk,
            "at": int(time.time()),
            "next": back,
        }
    return response


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """Log out here, and at the provider too when the session came from it (RP-initiated logout)."""
    with_provider = directory.signed_in_with_provider(request)
    auth.logout(request)
    target = resolve_url(settings.LOGOUT_REDIRECT_URL)
    if with_provider and settings.OIDC_ISSUER:
        try:
            end_session = provider().end_session_endpoint
        except ProviderUnavailable as exc:
            log.warning("logged out here only: %s", exc)
            end_session = ""
        if end_session:
            query = {
                "client_id": settings.OIDC_CLIENT_ID,
                "post_logout_redirect_uri": request.build_absolute_uri(target),
            }
            target = f"{end_session}?{urlencode(query)}"
    return redirect(target)
