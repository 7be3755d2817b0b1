"""Sign-in against LDAP / Active Directory (django-auth-ldap), with roles from nested groups.

django-auth-ldap checks the password (a bind as the user found by LDAP_USER_FILTER) and
copies the name and e-mail. The groups are resolved here, by one function that the login
and sync_directory_roles share: every group whose ``member`` is the user or one of the
user's groups, to any depth (AD's nested groups; OpenLDAP's groupOfNames). Unlike
django-auth-ldap's searches, which log an error and answer "nothing found", these raise:
an unreachable directory must never read as "this person left every group".

Imported only when LDAP_SERVER_URI is set (python-ldap is optional: requirements-ldap.txt).
"""

from __future__ import annotations

import logging

import ldap
from django.conf import settings
from django.contrib.auth.models import User
from django.utils.translation import gettext as _
from django_auth_ldap.backend import LDAPBackend
from django_auth_ldap.config import LDAPSearch, LDAPSettings
from ldap.filter import escape_filter_chars

from accounts import directory, identity_link
from accounts.models import Source

log = logging.getLogger(__name__)

USER_ATTRIBUTES = {"first_name": "givenName", "last_name": "sn", "email": "mail"}
# AD's userAccountControl flag of a disabled account.
ACCOUNTDISABLE = 0x2
GROUP_CLASSES = "(|(objectClass=group)(objectClass=groupOfNames))"
MAX_NESTING = 32  # AD allows cycles; `seen` stops them, this stops a pathological depth
MEMBERS_PER_QUERY = 50


class DirectoryUnavailable(Exception):
    """The LDAP server did not answer, or refused the portal's own bind account."""


def connection_options() -> dict:
    options = {
        ldap.OPT_REFERRALS: 0,  # AD answers with referrals to other domains; following them hangs
        ldap.OPT_NETWORK_TIMEOUT: settings.LDAP_TIMEOUT,
        ldap.OPT_TIMEOUT: settings.LDAP_TIMEOUT,
        ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
    }
    if settings.LDAP_CA_FILE:
        options[ldap.OPT_X_TLS_CACERTFILE] = settings.LDAP_CA_FILE
    options[ldap.OPT_X_TLS_NEWCTX] = 0  # last: applies the TLS options above to this connection
    return options


def connect():
    """A connection bound as LDAP_BIND_DN; DirectoryUnavailable when that cannot be had."""
    try:
        conn = ldap.initialize(settings.LDAP_SERVER_URI, bytes_mode=False)
        for option, value in connection_options().items():
            conn.set_option(option, value)
        if settings.LDAP_START_TLS:
            conn.start_tls_s()
        conn.simple_bind_s(settings.LDAP_BIND_DN, settings.LDAP_BIND_PASSWORD)
    except ldap.INVALID_CREDENTIALS:
        raise DirectoryUnavailable("the directory refused LDAP_BIND_DN and its password") from None
    except ldap.LDAPError as exc:
        raise DirectoryUnavailable(f"{settings.LDAP_SERVER_URI}: {_ldap_message(exc)}") from None
    return conn


def _ldap_message(exc: ldap.LDAPError) -> str:
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return " ".join(str(info.get(key, "")) for key in ("desc", "info")).strip() or type(exc).__name__


def find_user(conn, username: str) -> tuple[str, dict] | None:
    """(DN, attributes) of the one entry LDAP_USER_FILTER finds for ``username``, or None."""
    query = settings.LDAP_USER_FILTER % {"user": escape_filter_chars(username)}
    entries = conn.search_s(
        settings.LDAP_USER_SEARCH_BASE,
        ldap.SCOPE_SUBTREE,
        query,
        [*USER_ATTRIBUTES.values(), "userAccountControl"],
    )
    found = [(dn, attrs) for dn, attrs in entries if dn]  # AD adds referrals with no DN
    if len(found) != 1:
        if found:
            log.warning("LDAP: %d entries match %s; refusing to guess", len(found), query)
        return None
    return found[0]


AUTO_ID_ATTRIBUTES = ("objectGUID", "entryUUID")  # AD's, then OpenLDAP's (an operational attribute: asked by name)


def entry_subject(conn, dn: str) -> tuple[str, str | bytes | None]:
    """(the subject an account is bound to, the raw IDENTITY_LINK_ATTRIBUTE value) of the entry at ``dn``.

    The subject is "<attribute>:<value>" of LDAP_ID_ATTRIBUTE (empty: objectGUID, else
    entryUUID), or "dn:<dn>" when the entry has none of them or LDAP_ID_ATTRIBUTE is "dn".
    """
    configured = settings.LDAP_ID_ATTRIBUTE
    names = [] if configured.lower() == "dn" else [configured] if configured else list(AUTO_ID_ATTRIBUTES)
    link = settings.IDENTITY_LINK_ATTRIBUTE.get("ldap", "")
    wanted = [*names, link] if link else names
    attrs: dict = {}
    if wanted:
        entries = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", wanted)
        found = [entry for entry_dn, entry in entries if entry_dn]
        attrs = {name.lower(): values for name, values in (found[0] if found else {}).items()}
    for name in names:
        values = attrs.get(name.lower())
        if values:
            return f"{name}:{identity_link.ldap_text(name, values[0])}"[:512], _first(attrs, link)
    if configured and configured.lower() != "dn":
        log.warning("LDAP: %s has no %s (LDAP_ID_ATTRIBUTE); bound by its DN", dn, configured)
    return ("dn:" + dn.lower())[:512], _first(attrs, link)


def _first(attrs: dict, name: str) -> str | bytes | None:
    values = attrs.get(name.lower()) if name else None
    if not values:
        return None
    raw = values[0]
    try:
        return raw.decode("utf-8")  # text attributes (mail, userPrincipalName) as text
    except UnicodeDecodeError:
        return raw  # binary ones (objectGUID) are compared in base64


def is_disabled(attrs: dict) -> bool:
    values = attrs.get("userAccountControl") or [b"0"]
    try:
        return bool(int(values[0]) & ACCOUNTDISABLE)
    except ValueError:
        return False


def group_dns(conn, user_dn: str) -> set[str]:
    """Every group under LDAP_GROUP_SEARCH_BASE that has the user as a member, directly or through groups."""
    groups: set[str] = set()
    frontier = [user_dn]
    for _depth in range(MAX_NESTING):
        found: list[str] = []
        for start in range(0, len(frontier), MEMBERS_PER_QUERY):
            members = "".join(
                f"(member={escape_filter_chars(dn)})" for dn in frontier[start : start + MEMBERS_PER_QUERY]
            )
            entries = conn.search_s(
                settings.LDAP_GROUP_SEARCH_BASE, ldap.SCOPE_SUBTREE, f"(&{GROUP_CLASSES}(|{members}))", ["1.1"]
            )
            found.extend(dn for dn, _attrs in entries if dn and dn not in groups)
        new = set(found) - groups
        if not new:
            break
        groups |= new
        frontier = sorted(new)
    return groups


def unavailable_message() -> str:
    return _(
        "The directory (LDAP) did not answer, so directory accounts cannot sign in right now. "
        "Try again in a minute; a local break-glass account can still sign in."
    )


class DirectoryLDAPBackend(LDAPBackend):
    """django-auth-ldap's backend, configured from portal/settings.py, with the portal's roles."""

    @property
    def settings(self):
        if getattr(self, "_settings", None) is None:
            self._settings = LDAPSettings(
                "PORTAL_UNUSED_AUTH_LDAP_",  # everything from the defaults below, nothing from AUTH_LDAP_*
                {
                    "SERVER_URI": settings.LDAP_SERVER_URI,
                    "BIND_DN": settings.LDAP_BIND_DN,
                    "BIND_PASSWORD": settings.LDAP_BIND_PASSWORD,
                    "START_TLS": settings.LDAP_START_TLS,
                    "CONNECTION_OPTIONS": connection_options(),
                    "USER_SEARCH": LDAPSearch(
                        settings.LDAP_USER_SEARCH_BASE, ldap.SCOPE_SUBTREE, settings.LDAP_USER_FILTER
                    ),
                    "USER_ATTR_MAP": USER_ATTRIBUTES,
                    "ALWAYS_UPDATE_USER": True,
                },
            )
        return self._settings

    @settings.setter
    def settings(self, value):
        self._settings = value

    def authenticate(self, request, username=None, password=None, **kwargs):
        self._request = request
        if isinstance(username, str) and username:
            username = directory.clean_username(request, username)  # refuses invisible characters
        return super().authenticate(request, username=username, password=password, **kwargs)

    def authenticate_ldap_user(self, ldap_user, password):
        try:
            self._conn = connect()
        except DirectoryUnavailable as exc:
            raise directory.refuse(getattr(self, "_request", None), unavailable_message(), str(exc)) from None
        try:
            user = ldap_user.authenticate(password)  # calls get_or_build_user below once the password is right
            if user is None:
                return None
            directory.follow_directory(
                user,
                self._roles,
                source=Source.LDAP,
                subject=self._subject,
                origin="ldap",
                person=self._person,
                groups=self._groups,
            )
            user.refresh_from_db()
            user.__dict__.pop("_portal_roles", None)
            return user
        finally:
            self._conn.unbind_s()

    def get_or_build_user(self, username: str, ldap_user) -> tuple[User, bool]:
        request = getattr(self, "_request", None)
        username = directory.clean_username(request, username)
        try:
            self._subject, link = entry_subject(self._conn, ldap_user.dn)
            # Bound to this entry, or refused: another person's account (a reused uid) is never handed over.
            existing = directory.bind(request, username, Source.LDAP, self._subject, dn=ldap_user.dn)
            groups = group_dns(self._conn, ldap_user.dn)
            self._groups = groups  # TENANT_GROUPS: the person's KSC servers (accounts/tenants.py)
        except ldap.LDAPError as exc:
            raise directory.refuse(request, unavailable_message(), f"search: {_ldap_message(exc)}") from None
        self._roles = directory.roles_or_refuse(
            request, username, groups, user=existing, source=Source.LDAP, subject=self._subject
        )
        self._person = directory.person_or_refuse(request, username, Source.LDAP, link)
        if existing is not None:
            return existing, False
        return User(username=username), True
