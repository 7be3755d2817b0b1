"""Roles follow the directory: shared by the LDAP and OpenID Connect sign-ins and by sync_directory_roles.

At every directory login the user's portal roles (the Analysts, Approvers and Auditors
groups; any other group is left alone) are set from their directory groups through
ROLE_GROUPS. A directory user with no mapped group is refused and nothing is created (an
existing account of theirs loses its roles, its API tokens and its sessions, and is
deactivated). Each change is a DirectoryEvent whose actor is "directory", in the same
transaction as the change.

Identity: a directory account is bound to one person of one directory, (source, subject),
the OIDC issuer and ``sub`` or the LDAP entry's immutable id (``bind``). A sign-in of a
known username by another subject, or from the other source, is refused with a message
for the administrator and an event in the accounts chain; a local account is never taken
over. Only ``manage.py relink_account`` moves a binding. Usernames with invisible
characters are refused (``clean_username``).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import role_groups, tenants, visible
from accounts.models import ApiToken, DirectoryAccount, DirectoryEvent, Source
from accounts.role_groups import roles_for
from accounts.roles import ALL_ROLES

log = logging.getLogger(__name__)

ACTOR = "directory"
# Set at an OpenID Connect login whose ID token says the provider did multi-factor authentication.
PROVIDER_MFA_SESSION_KEY = "accounts_provider_mfa"
SIGNED_IN_WITH_SESSION_KEY = "accounts_signed_in_with"  # "oidc" for a provider login


class DirectoryRefusal(PermissionDenied):
    """The directory knows this person, but the portal will not let them in; the message says why."""


def login_carried_mfa(request: HttpRequest) -> bool:
    """Whether this session's login already carried multi-factor authentication from the identity provider.

    The 2FA gate (accounts/twofactor.py) then does not ask for the portal's own code.
    """
    session = getattr(request, "session", None)
    return bool(session is not None and session.get(PROVIDER_MFA_SESSION_KEY) is True)


def signed_in_with_provider(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    return bool(session is not None and session.get(SIGNED_IN_WITH_SESSION_KEY) == "oidc")


def refuse(request: HttpRequest | None, message: str, why: str) -> DirectoryRefusal:
    """The refusal to raise; the login page shows ``message`` (kept on the request), the log says ``why``."""
    if request is not None:
        request.directory_refusal = message
    log.warning("directory sign-in refused: %s", why)
    return DirectoryRefusal(message)


def is_directory_user(user) -> bool:
    return DirectoryAccount.objects.filter(user_id=user.pk).exists()


def source_name(source: str) -> str:
    return str(Source(source).label) if source in Source.values else source


def clean_username(request: HttpRequest | None, raw: str) -> str:
    """The username a directory gives, NFKC-normalised and lower-cased; refuses invisible characters.

    ``oscar\u200b`` reads as ``oscar`` on every page: such a name is never let in.
    """
    username = unicodedata.normalize("NFKC", raw).strip().lower()
    if not 0 < len(username) <= 150:
        raise refuse(
            request,
            _("Your directory username is empty or longer than 150 characters. Ask your administrator."),
            f"username of {len(username)} characters",
        )
    hidden = visible.invisible_char(username) or next(
        (ch for ch in username if unicodedata.category(ch) in ("Cc", "Zs") and ch != " "), None
    )
    if hidden is not None:
        raise refuse(
            request,
            _(
                "Your directory username contains a character nobody can see (%(char)s), so the portal cannot show "
                "who you are to the people who approve your work. Ask your administrator to correct the username."
            )
            % {"char": visible.char_name(hidden)},
            f"{username!r} contains {visible.char_name(hidden)}",
        )
    return username


def _record_refusal(username: str, source: str, subject: str, reason: str, **detail) -> None:
    """A refused directory sign-in, in the accounts chain and the directory's events (no secrets: ids only)."""
    from accounts import account_chain
    from accounts.models import AccountEvent, AccountEventKind

    account_chain.append_account_event(
        AccountEvent(
            kind=AccountEventKind.SIGN_IN_REFUSED,
            actor_username=ACTOR,  # the directory refused, not a person (nobody is signed in)
            subject_username=username[:150],
            detail={"source": source, "subject": subject, "reason": reason, **detail},
        )
    )
    DirectoryEvent.objects.create(
        actor=ACTOR, username=username[:150], source=source, action=DirectoryEvent.Action.REFUSED, detail=reason[:255]
    )


def subject_matches(stored: str, subject: str, dn: str = "") -> bool:
    """The stored binding names this person: the same subject, or (an LDAP binding kept by DN only) the same DN."""
    if stored == subject[:512]:
        return True
    return bool(dn) and stored.startswith("dn:") and stored == ("dn:" + dn.lower())[:512]


def bind(request: HttpRequest | None, username: str, source: str, subject: str, *, dn: str = "") -> User | None:
    """The portal account bound to this person, None for a new one; refuses anyone else's account.

    Refused, with the accounts chain told: a local account of that name; an account of the
    other source; an account bound to another subject of this source (a new hire who got a
    leaver's username, or a reassigned ``preferred_username``); a person already bound to
    an account of another name.
    """
    subject = subject[:512]
    user = User.objects.filter(username__iexact=username).first()
    if user is not None and not is_directory_user(user):
        raise refuse(
            request,
            _(
                "A local account named %(username)s already exists in the portal, so the directory cannot sign it "
                "in. Ask an administrator to remove or rename the local account."
            )
            % {"username": username},
            f"{username!r} is a local account",
        )
    if user is not None:
        account = user.directory_account
        if account.source != source:
            _record_refusal(
                username, source, subject, "the account belongs to the other directory", bound_to=account.source
            )
            raise refuse(
                request,
                _(
                    "The portal account %(username)s belongs to a person from %(other)s, not from %(source)s, so "
                    "you cannot sign in to it. Ask an administrator: they can rename that account, or link it to you "
                    "with manage.py relink_account if it is yours."
                )
                % {"username": username, "other": source_name(account.source), "source": source_name(source)},
                f"{username!r} is bound to {account.source}, not {source}",
            )
        if not subject_matches(account.subject, subject, dn):
            _record_refusal(
                username, source, subject, "another person of the directory has this username", bound_to=account.subject
            )
            raise refuse(
                request,
                _(
                    "The portal account %(username)s belongs to another person of the directory than you (the "
                    "username was given to someone else), so you cannot sign in to it. Ask an administrator: they "
                    "rename the old account so that yours can be made, or link it to you with manage.py "
                    "relink_account if it is yours."
                )
                % {"username": username},
                f"{username!r} is bound to {account.subject!r}, not {subject!r}",
            )
        return user
    other = DirectoryAccount.objects.filter(source=source, subject=subject).select_related("user").first()
    if other is not None:
        _record_refusal(
            username, source, subject, "this person is bound to another portal account", bound_to=other.user.username
        )
        raise refuse(
            request,
            _(
                "You already have a portal account under another username (%(other)s). Ask an administrator to "
                "rename it to %(username)s."
            )
            % {"other": other.user.get_username(), "username": username},
            f"{subject!r} is bound to {other.user.get_username()!r}, not {username!r}",
        )
    return None


def _no_role_message() -> str:
    return _(
        "Your directory account is not in any group that gives a role in this portal, so you cannot sign "
        "in. Ask your administrator to add you to the SOC analysts', approvers' or auditors' group."
    )


def roles_or_refuse(
    request: HttpRequest | None,
    username: str,
    groups: Iterable[str],
    *,
    user: User | None = None,
    source: str = "",
    subject: str = "",
) -> set[str]:
    """The roles the groups give; refuses when they give none.

    Nothing is created for a new person. ``user``: their existing account (already bound
    to this subject by ``bind``), which then follows the directory: no role, deactivated,
    API tokens revoked, sessions ended, and the refusal recorded in the accounts chain.
    """
    roles = roles_for(groups, role_groups.configured())
    if not roles:
        if user is not None:
            follow_directory(user, set(), source=source, subject=subject, origin=source)
            _record_refusal(username, source, subject, "in no mapped group: roles removed, account deactivated")
        raise refuse(request, _no_role_message(), f"{username!r} is in no group of ROLE_GROUPS")
    return roles


def person_or_refuse(request: HttpRequest | None, username: str, source: str, value) -> str | None:
    """The IDENTITY_LINK_ATTRIBUTE value of this person (normalised); None when no link is configured.

    A person without one is refused: the two-person rule could not tell their accounts apart.
    """
    from accounts.identity_link import link_value

    name = settings.IDENTITY_LINK_ATTRIBUTE.get(source)
    if not name:
        return None
    person = link_value(value)
    if not person:
        raise refuse(
            request,
            _(
                "Your directory account has no %(attribute)s, which the portal needs to know that your accounts "
                "are one person. Ask your administrator."
            )
            % {"attribute": name},
            f"{username!r} has no {name} (IDENTITY_LINK_ATTRIBUTE)",
        )
    return person


def _event(user: User, source: str, action: str, detail: str = "") -> None:
    DirectoryEvent.objects.create(
        actor=ACTOR, username=user.get_username(), source=source, action=action, detail=detail[:255]
    )


def revoke_access(user: User, origin: str) -> int:
    """The directory no longer lets this person in: their API tokens are revoked and their sessions end.

    Sessions end because the session's hash of the (unusable) password changes: Django
    logs out every session at its next request, whatever the session store.
    """
    now = timezone.now()
    revoked = 0
    for token in ApiToken.objects.filter(user=user, revoked_at__isnull=True):
        token.revoked_at = now
        token.save(update_fields=["revoked_at"])  # through the model: django-auditlog records it
        revoked += 1
    if revoked:
        _event(user, origin, DirectoryEvent.Action.TOKENS_REVOKED, f"{revoked} API token(s)")
    user.set_unusable_password()
    User.objects.filter(pk=user.pk).update(password=user.password)
    return revoked


def follow_directory(
    user: User,
    roles: set[str],
    *,
    source: str,
    subject: str,
    origin: str,
    person: str | None = None,
    groups: Iterable[str] | None = None,
) -> list[str]:
    """Give ``user`` exactly ``roles`` among the portal's, as the directory says; what changed, for the log.

    No role at all means the person left every mapped group: the account is deactivated,
    its API tokens revoked and its sessions ended. ``source``/``subject``: the person the
    account is bound to (``bind`` checked it; only a binding kept by DN moves, once, to the
    entry's immutable id). ``origin``: what noticed (ldap, oidc at a login; sync for
    sync_directory_roles), written in each event. ``person``: the IDENTITY_LINK_ATTRIBUTE value.
    ``groups``: the person's directory groups, which set their KSC servers when TENANT_GROUPS is set
    (accounts/tenants.py; each change an AccountEvent in the accounts chain).
    """
    changes: list[str] = []
    subject = subject[:512]
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        account, created = DirectoryAccount.objects.get_or_create(
            user=user, defaults={"source": source, "subject": subject, "person": person or ""}
        )
        if created:
            _event(user, origin, DirectoryEvent.Action.CREATED, f"from {source}: {subject}")
            changes.append("created")
        elif (account.source, account.subject) != (source, subject):
            if account.source != source or not account.subject.startswith("dn:") or subject.startswith("dn:"):
                raise ValueError(f"{user.get_username()!r} is bound to {account.source} {account.subject!r}")
            _event(user, origin, DirectoryEvent.Action.REBOUND, f"{account.subject} -> {subject}")
            account.subject = subject
            changes.append("rebound")
        if person and account.person != person:
            account.person = person
            changes.append("linked")
        held = set(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        for role in sorted(roles - held):
            user.groups.add(Group.objects.get_or_create(name=role)[0])
            _event(user, origin, DirectoryEvent.Action.ROLE_ADDED, role)
            changes.append(f"+{role}")
        for role in sorted(held - roles):
            user.groups.remove(Group.objects.get(name=role))
            _event(user, origin, DirectoryEvent.Action.ROLE_REMOVED, role)
            changes.append(f"-{role}")
        if not roles and user.is_active:
            user.is_active = False
            user.save(update_fields=["is_active"])
            account.deactivated_by_directory = True
            _event(user, origin, DirectoryEvent.Action.DEACTIVATED, "in no mapped group of the directory")
            changes.append("deactivated")
            if revoke_access(user, origin):
                changes.append("tokens revoked")
        elif roles and not user.is_active and account.deactivated_by_directory:
            user.is_active = True
            user.save(update_fields=["is_active"])
            account.deactivated_by_directory = False
            _event(user, origin, DirectoryEvent.Action.REACTIVATED, "back in a mapped group")
            changes.append("reactivated")
        if groups is not None and settings.TENANT_GROUPS:
            if tenants.follow_tenant_groups(user, groups, tenants.configured()):
                changes.append("servers")
        account.synced_at = timezone.now()
        account.save()
    if changes:
        log.info("directory (%s): %s %s", origin, user.get_username(), " ".join(changes))
    return changes


def deactivate_missing(user: User, *, origin: str) -> list[str]:
    """The directory no longer knows this person (deleted, disabled, or the name is another person's now)."""
    account = user.directory_account
    return follow_directory(user, set(), source=account.source, subject=account.subject, origin=origin)


def relink(user: User, *, source: str, subject: str, person: str | None = None, reason: str = "") -> dict:
    """An administrator binds ``user`` to another (source, subject): recorded in the accounts chain.

    When the subject changes, the old person's API tokens are revoked and their sessions end.
    """
    from accounts import account_trail
    from accounts.models import AccountEventKind

    subject = subject[:512]
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        account = DirectoryAccount.objects.filter(user=user).first()
        if account is None:
            raise ValueError(
                f"{user.get_username()!r} is a local account: the directory never takes over a local account"
            )
        taken = DirectoryAccount.objects.filter(source=source, subject=subject).exclude(pk=account.pk).first()
        if taken is not None:
            raise ValueError(f"{source} subject {subject!r} is bound to {taken.user.get_username()!r} already")
        before = {"source": account.source, "subject": account.subject, "person": account.person}
        moved = (account.source, account.subject) != (source, subject)
        account.source, account.subject = source, subject
        if person is not None:
            account.person = person
        account.save()
        after = {"source": account.source, "subject": account.subject, "person": account.person}
        revoked = revoke_access(user, "relink") if moved else 0
        account_trail.record(
            AccountEventKind.IDENTITY_RELINKED,
            user.get_username(),
            {"before": before, "after": after, "tokens_revoked": revoked, "reason": reason[:255]},
        )
    return {"before": before, "after": after, "tokens_revoked": revoked}
