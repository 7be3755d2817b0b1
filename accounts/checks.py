"""System checks of the sign-in settings: the portal refuses to start when they would let one person be two.

Django runs them before every management command (migrate, the workers, runserver) and
``manage.py check``; an error stops the command.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from accounts.role_groups import role_groups_from
from accounts.roles import APPROVERS


@register("accounts")
def role_groups_name_roles(app_configs=None, **kwargs) -> list[Error]:
    """ROLE_GROUPS must map portal roles to non-empty lists of group names (accounts.E002).

    portal/settings.py reads the JSON object only (the settings import no app code); which roles
    exist is the accounts' to say.
    """
    try:
        role_groups_from("ROLE_GROUPS", settings.ROLE_GROUPS)
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint='For example ROLE_GROUPS={"Approvers": ["CN=SOC Approvers,OU=Groups,DC=corp,DC=example"]} (README).',
                id="accounts.E002",
            )
        ]
    return []


@register("accounts")
def tenant_groups_name_servers(app_configs=None, **kwargs) -> list[Error]:
    """TENANT_GROUPS must map configured KSC servers (or "*") to non-empty lists of groups (accounts.E003)."""
    from accounts import tenants

    try:
        tenants.configured()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="Name the servers of KSC_SERVERS_FILE, or '*' (README).", id="accounts.E003")]
    return []


@register("accounts")
def one_person_one_identity(app_configs=None, **kwargs) -> list[Error]:
    """Both directories on, approvers from the groups, and no IDENTITY_LINK_ATTRIBUTE: refused.

    ROLE_GROUPS is shared by both sources, so each of them can give the Approvers role;
    without a link, one person with an LDAP and an OpenID Connect account would be two
    approvers (or requester and approver) to the two-person rule.
    """
    if not (settings.LDAP_SERVER_URI and settings.OIDC_ISSUER):
        return []
    if not settings.ROLE_GROUPS.get(APPROVERS):
        return []
    link = settings.IDENTITY_LINK_ATTRIBUTE
    missing = [source for source in ("ldap", "oidc") if not link.get(source)]
    if not missing:
        return []
    return [
        Error(
            "LDAP_SERVER_URI and OIDC_ISSUER are both set and ROLE_GROUPS gives the Approvers role, but "
            "IDENTITY_LINK_ATTRIBUTE is not set: one person with an account in each directory would count as two "
            "people in the two-person rule.",
            hint="Set IDENTITY_LINK_ATTRIBUTE to an immutable attribute both directories carry, e.g. "
            "'ldap:userPrincipalName oidc:upn' or 'ldap:objectGUID oidc:onPremisesImmutableId' (README, Security).",
            id="accounts.E001",
        )
    ]
