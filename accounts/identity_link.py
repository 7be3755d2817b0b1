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
import re
import unicodedata
import uuid

from django.core.exceptions import ImproperlyConfigured

SOURCES = ("ldap", "oidc")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.;-]*$")


def parse_link_attribute(variable: str, value: str) -> dict[str, str]:
    """{"ldap": attribute, "oidc": claim}, or {} when unset; ImproperlyConfigured naming the variable."""
    value = (value or "").strip()
    if not value:
        return {}
    parts = [part for part in re.split(r"[\s,]+", value) if part]
    found: dict[str, str] = {}
    for part in parts:
        source, sep, name = part.partition(":")
        if not sep:
            if len(parts) != 1:
                raise ImproperlyConfigured(
                    f"{variable}: give one name for both sources, or ldap:<attribute> oidc:<claim>; not {value!r}."
                )
            source, name = "", part
        if source and source not in SOURCES:
            raise ImproperlyConfigured(f"{variable}: {source!r} is not a source; use ldap: or oidc:.")
        if not _NAME.match(name):
            raise ImproperlyConfigured(f"{variable}: {name!r} is not an attribute or claim name.")
        for one in [source] if source else SOURCES:
            if one in found:
                raise ImproperlyConfigured(f"{variable}: {one} is given twice.")
            found[one] = name
    return found


def parse_id_attribute(variable: str, value: str) -> str:
    """LDAP_ID_ATTRIBUTE: empty (objectGUID, else entryUUID, else the DN), an attribute name, or "dn"."""
    value = (value or "").strip()
    if value and not _NAME.match(value):
        raise ImproperlyConfigured(f"{variable}: {value!r} is not an LDAP attribute name.")
    return value


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
