"""Bind a directory account to another person of the directory, deliberately (issue 23, point 1).

A sign-in whose (source, subject) differs from the account's is refused; when the person
really is the same (their entry was recreated, they moved to the provider), an administrator
moves the binding here. Recorded in the accounts chain ("identity_relinked", before and
after); the API tokens of the old binding are revoked and its sessions end.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import directory
from accounts.identity_link import link_value
from accounts.models import Source

LDAP_FORMS = ("entryUUID:", "objectGUID:", "dn:")


class Command(BaseCommand):
    help = "Bind a directory account to another (source, subject): the person who may sign in to it."

    def add_arguments(self, parser):
        parser.add_argument("username", help="the portal account")
        parser.add_argument("--source", required=True, choices=Source.values, help="the directory: ldap or oidc")
        parser.add_argument(
            "--subject",
            default="",
            help="oidc: the provider's sub (the issuer is OIDC_ISSUER unless --issuer); "
            "ldap: entryUUID:<uuid>, objectGUID:<guid> or dn:<dn>",
        )
        parser.add_argument("--issuer", default="", help="oidc: the issuer of --subject (default: OIDC_ISSUER)")
        parser.add_argument("--dn", default="", help="ldap: read the subject (and link value) from this entry")
        parser.add_argument("--person", default=None, help="the IDENTITY_LINK_ATTRIBUTE value to store")
        parser.add_argument("--reason", default="", help="why (a ticket), kept in the accounts chain")

    def handle(self, *args, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: options["username"]})
        except User.DoesNotExist:
            raise CommandError(f"There is no user {options['username']!r}.") from None
        source, subject = options["source"], options["subject"].strip()
        person = link_value(options["person"]) if options["person"] is not None else None
        if options["dn"]:
            if source != Source.LDAP:
                raise CommandError("--dn is for --source ldap.")
            subject, found_person = self._from_directory(options["dn"])
            if person is None and found_person:
                person = found_person
        elif source == Source.OIDC:
            issuer = options["issuer"].strip() or settings.OIDC_ISSUER
            if not subject or "#" in subject or not issuer:
                raise CommandError(
                    f"{subject!r} is not a subject: give the provider's sub, and --issuer when OIDC_ISSUER is not set."
                )
            subject = f"{issuer}#{subject}"
        elif not subject.startswith(LDAP_FORMS) or subject.endswith(":"):
            raise CommandError(f"{subject!r} is not a subject: give entryUUID:<uuid>, objectGUID:<guid>, dn:<dn> or --dn.")
        try:
            result = directory.relink(user, source=source, subject=subject, person=person, reason=options["reason"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        before, after = result["before"], result["after"]
        self.stdout.write(
            f"{user.get_username()}: {before['source']} {before['subject']} -> {after['source']} {after['subject']}"
            f" ({result['tokens_revoked']} API token(s) revoked)"
        )

    def _from_directory(self, dn: str) -> tuple[str, str]:
        if not settings.LDAP_SERVER_URI:
            raise CommandError("LDAP_SERVER_URI is not set: there is no directory to read --dn from.")
        from accounts import ldap as directory_ldap

        try:
            conn = directory_ldap.connect()
        except directory_ldap.DirectoryUnavailable as exc:
            raise CommandError(str(exc)) from None
        try:
            subject, link = directory_ldap.entry_subject(conn, dn)
        except directory_ldap.ldap.NO_SUCH_OBJECT:
            raise CommandError(f"There is no entry {dn!r} in the directory.") from None
        except directory_ldap.ldap.LDAPError as exc:
            raise CommandError(f"{dn}: {directory_ldap._ldap_message(exc)}") from None
        finally:
            conn.unbind_s()
        return subject, link_value(link)
