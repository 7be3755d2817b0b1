"""sync_directory_roles: every LDAP account's roles from the directory now, not at its next login.

Everything is read from the directory first and changed only then: a directory that
stops answering halfway changes nothing (it must never read as "everyone left").
Accounts from OpenID Connect are checked at their next login only: a provider offers
no standard way to ask about a person who is not signing in.
"""

from __future__ import annotations

import logging

from django.conf import settings

from accounts import directory, identity_link, role_groups
from accounts.models import DirectoryAccount, Source
from accounts.role_groups import roles_for
from accounts.roles import ALL_ROLES
from worker import duties

log = logging.getLogger(__name__)

SYNC_JOB_ID = "portal-sync-directory-roles"


class SyncError(Exception):
    """The directory could not be read; nothing was changed."""


def plan() -> list[tuple[DirectoryAccount, set[str], str, str | None, list[str] | None]]:
    """(account, the roles the directory gives now, its subject, its link value, its groups) for every LDAP account.

    Reads only. The groups (None for a person who left) set the KSC servers when TENANT_GROUPS is set.

    An account whose username now names another entry (another immutable id: the uid was
    given to a new person) is planned as gone: its person left.
    """
    from accounts import ldap as directory_ldap

    try:
        conn = directory_ldap.connect()
    except directory_ldap.DirectoryUnavailable as exc:
        raise SyncError(str(exc)) from None
    planned = []
    try:
        for account in DirectoryAccount.objects.filter(source=Source.LDAP).select_related("user").order_by("id"):
            found = directory_ldap.find_user(conn, account.user.get_username())
            if found is None or directory_ldap.is_disabled(found[1]):
                planned.append((account, set(), account.subject, None, None))  # deleted or disabled in the directory
                continue
            dn = found[0]
            subject, link = directory_ldap.entry_subject(conn, dn)
            if not directory.subject_matches(account.subject, subject, dn):
                log.warning(
                    "sync_directory_roles: %s now names another entry (%s, not %s): the account's person left",
                    account.user.get_username(),
                    subject,
                    account.subject,
                )
                planned.append((account, set(), account.subject, None, None))
                continue
            groups = directory_ldap.group_dns(conn, dn)
            roles = roles_for(groups, role_groups.configured())
            person = identity_link.link_value(link) if settings.IDENTITY_LINK_ATTRIBUTE.get("ldap") else ""
            planned.append((account, roles, subject, person or None, list(groups)))
    except directory_ldap.ldap.LDAPError as exc:
        raise SyncError(f"{settings.LDAP_SERVER_URI}: {directory_ldap._ldap_message(exc)}") from None
    finally:
        conn.unbind_s()
    return planned


def sync(*, dry_run: bool = False) -> dict[str, list[str]]:
    """Apply the directory's roles to every LDAP account; {username: changes} of those that changed."""
    if not settings.LDAP_SERVER_URI:
        raise SyncError("LDAP_SERVER_URI is not set: there is no directory to synchronise with.")
    changed: dict[str, list[str]] = {}
    for account, roles, subject, person, groups in plan():
        if dry_run:
            held = set(account.user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
            if held != roles or (not roles and account.user.is_active):
                changed[account.user.get_username()] = [f"roles would be {', '.join(sorted(roles)) or 'none'}"]
            continue
        changes = directory.follow_directory(
            account.user, roles, source=Source.LDAP, subject=subject, origin="sync", person=person, groups=groups
        )
        if changes:
            changed[account.user.get_username()] = changes
    return changed


def _sync_interval() -> int | None:
    """DIRECTORY_SYNC_INTERVAL when LDAP is configured; None (no scheduled sync) otherwise."""
    return settings.DIRECTORY_SYNC_INTERVAL if settings.LDAP_SERVER_URI else None


@duties.periodic("directory-sync", every=_sync_interval, job_id=SYNC_JOB_ID)
def sync_periodically() -> dict[str, list[str]]:
    """The scheduled run (DIRECTORY_SYNC_INTERVAL); a failed read waits for the next."""
    try:
        return sync()
    except SyncError as exc:
        log.error("sync_directory_roles: %s; nothing was changed", exc)
        return {}


schedule_sync = sync_periodically.schedule  # idempotent: the sync in the worker's schedule when LDAP is configured
