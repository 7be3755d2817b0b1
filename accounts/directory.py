"""Roles follow the directory: shared by the LDAP and OpenID Connect sign-ins and by sync_directory_roles.

At every directory login the user's portal roles (the Analysts, Approvers and Auditors
groups; any other group is left alone) are set from their directory groups through
ROLE_GROUPS. A directory user with no mapped group is refused and nothing is created; a
local account is never taken over by a directory user of the same name. Each change is
a DirectoryEvent whose actor is "directory", in the same transaction as the change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import DirectoryAccount, DirectoryEvent
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


def existing_user(request: HttpRequest | None, username: str) -> User | None:
    """The directory user of that name, None for a new one; refuses when it is a local account's name."""
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
    return user


def roles_or_refuse(request: HttpRequest | None, username: str, groups: Iterable[str]) -> set[str]:
    """The roles the groups give; refuses (nothing is created) when they give none."""
    roles = roles_for(groups, settings.ROLE_GROUPS)
    if not roles:
        raise refuse(
            request,
            _(
                "Your directory account is not in any group that gives a role in this portal, so you cannot sign "
                "in. Ask your administrator to add you to the SOC analysts', approvers' or auditors' group."
            ),
            f"{username!r} is in no group of ROLE_GROUPS",
        )
    return roles


def _event(user: User, source: str, action: str, detail: str = "") -> None:
    DirectoryEvent.objects.create(
        actor=ACTOR, username=user.get_username(), source=source, action=action, detail=detail[:255]
    )


def follow_directory(user: User, roles: set[str], *, source: str, subject: str, origin: str) -> list[str]:
    """Give ``user`` exactly ``roles`` among the portal's, as the directory says; what changed, for the log.

    No role at all means the person left every mapped group: the account is deactivated.
    ``source``: the directory (ldap/oidc) that owns the account; ``origin``: what noticed
    (ldap, oidc at a login; sync for sync_directory_roles), written in each event.
    """
    changes: list[str] = []
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        account, created = DirectoryAccount.objects.get_or_create(
            user=user, defaults={"source": source, "subject": subject[:512]}
        )
        if created:
            _event(user, origin, DirectoryEvent.Action.CREATED, f"from {source}: {subject}")
            changes.append("created")
        elif (account.source, account.subject) != (source, subject[:512]):
            account.source, account.subject = source, subject[:512]
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
        elif roles and not user.is_active and account.deactivated_by_directory:
            user.is_active = True
            user.save(update_fields=["is_active"])
            account.deactivated_by_directory = False
            _event(user, origin, DirectoryEvent.Action.REACTIVATED, "back in a mapped group")
            changes.append("reactivated")
        account.synced_at = timezone.now()
        account.save()
    if changes:
        log.info("directory (%s): %s %s", origin, user.get_username(), " ".join(changes))
    return changes


def deactivate_missing(user: User, *, origin: str) -> list[str]:
    """The directory no longer knows this person (deleted or disabled): no role, and deactivated."""
    account = user.directory_account
    return follow_directory(user, set(), source=account.source, subject=account.subject, origin=origin)
