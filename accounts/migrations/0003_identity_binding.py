"""Every directory account is bound to one (source, subject), unique; the directory's events are append-only.

- LDAP subjects written before this migration are DNs: they become "dn:<dn>", the form
  accounts/directory.py reads as "bound by DN only". The next sign-in or sync that finds
  the same DN moves the binding to the entry's immutable id (LDAP_ID_ATTRIBUTE) once.
- Two accounts bound to the same (source, subject) stop the migration with their names:
  one person with two portal accounts of one source is for an administrator to sort out.
- ``person``: the IDENTITY_LINK_ATTRIBUTE value, filled at the next sign-in or sync.
- accounts_directoryevent refuses UPDATE and DELETE on PostgreSQL (responses 0005's
  function, as for the other audit tables) and UPDATE on SQLite (a DELETE trigger there
  would stop the test database's flush; PostgreSQL's TRUNCATE is not covered either).
"""

from django.db import migrations, models

SQLITE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS portal_directoryevent_immutable BEFORE UPDATE ON accounts_directoryevent
BEGIN SELECT RAISE(ABORT, 'audit rows in accounts_directoryevent cannot be changed or deleted (UPDATE)'); END
"""


def legacy_subjects(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending trigger events before ALTER TABLE
    Account = apps.get_model("accounts", "DirectoryAccount")
    seen: dict[tuple[str, str], str] = {}
    for account in Account.objects.select_related("user").order_by("id"):
        if account.source == "ldap" and not account.subject.startswith(("dn:", "entryUUID:", "objectGUID:")):
            account.subject = ("dn:" + account.subject.lower())[:512]
            account.save(update_fields=["subject"])
        key = (account.source, account.subject)
        if key in seen:
            raise RuntimeError(
                f"portal accounts {seen[key]!r} and {account.user.username!r} are bound to the same "
                f"{account.source} subject {account.subject!r}: delete or unbind one of them, then migrate again"
            )
        seen[key] = account.user.username


def dn_subjects_back(apps, schema_editor):
    Account = apps.get_model("accounts", "DirectoryAccount")
    for account in Account.objects.filter(source="ldap", subject__startswith="dn:"):
        account.subject = account.subject[3:]
        account.save(update_fields=["subject"])


def protect(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS portal_audit_immutable ON accounts_directoryevent")
        schema_editor.execute(
            "CREATE TRIGGER portal_audit_immutable BEFORE UPDATE OR DELETE ON accounts_directoryevent "
            "FOR EACH ROW EXECUTE FUNCTION portal_audit_refuse()"
        )
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


def unprotect(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS portal_audit_immutable ON accounts_directoryevent")
    elif vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS portal_directoryevent_immutable")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_api_token_from_responses"),
        ("responses", "0005_audit_triggers"),  # portal_audit_refuse()
    ]

    operations = [
        migrations.RunPython(legacy_subjects, dn_subjects_back, elidable=False),
        migrations.AddField(
            model_name="directoryaccount",
            name="person",
            field=models.CharField(blank=True, db_index=True, default="", max_length=512),
        ),
        migrations.AlterField(
            model_name="directoryevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("created", "account created"),
                    ("role_added", "role added"),
                    ("role_removed", "role removed"),
                    ("deactivated", "deactivated"),
                    ("reactivated", "reactivated"),
                    ("refused", "sign-in refused"),
                    ("tokens_revoked", "API tokens revoked"),
                    ("rebound", "bound to the immutable id"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddConstraint(
            model_name="directoryaccount",
            constraint=models.UniqueConstraint(fields=("source", "subject"), name="directory_account_one_subject"),
        ),
        migrations.RunPython(protect, unprotect, elidable=False),
    ]
