"""IDENTITY_LINK_ATTRIBUTE and LDAP_ID_ATTRIBUTE: how the portal tells people apart. Read by settings: no models.

One person is one identity across the sources: an LDAP account and an OpenID Connect
account whose link values are equal belong to the same person, and the two-person rule
counts them once (responses/policy.py, ``same_person``).

IDENTITY_LINK_ATTRIBUTE is either one name, used in both sources (``mail``), or one
name per source, ``ldap:userPrincipalName oidc:upn`` (spaces or commas between). The
value must be immutable and owned by the directory: the UPN, the e-mail address the
directory verified, or AD's ``objectGUID`` with Entra ID's ``onPremisesImmutableId``
(a binary LDAP value is compared in base64, the form Entra ID gives it in).
"""

from __future__ import annotations

import base64
import unicodedata
import uuid

# The two variables' readers are settings readers (portal/settings.py imports no app code).
from portal.env import SOURCES, parse_id_attribute, parse_link_attribute  # noqa: E402, F401


def ldap_text(name: str, raw: bytes) -> str:
    """An LDAP value as text: objectGUID in AD's GUID form, other binary values in base64."""
    if name.lower() == "objectguid" and len(raw) == 16:
        return str(uuid.UUID(bytes_le=raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii")
    return text


def linked_people(user_ids) -> dict[int, str]:
    """{user id: linked person} for the directory accounts among ``user_ids`` that have one (one query)."""
    from accounts.models import DirectoryAccount  # here, not at the top: settings import this module

    ids = {pk for pk in user_ids if pk is not None}
    if not ids:
        return {}
    return dict(DirectoryAccount.objects.filter(user_id__in=ids).exclude(person="").values_list("user_id", "person"))


def accounts_of_person(user_id: int) -> set[int]:
    """The user ids of every account linked to ``user_id``'s person, itself included (one query)."""
    from accounts.models import DirectoryAccount

    person = DirectoryAccount.objects.filter(user_id=user_id).exclude(person="").values_list("person", flat=True).first()
    if not person:
        return {user_id}
    return set(DirectoryAccount.objects.filter(person=person).values_list("user_id", flat=True)) | {user_id}


def link_value(value) -> str:
    """The normalised link value ("" for none): one spelling per person, whatever the source."""
    if isinstance(value, bytes):
        value = base64.b64encode(value).decode("ascii")
    if not isinstance(value, str):
        return ""
    return unicodedata.normalize("NFKC", value).strip().lower()[:512]
