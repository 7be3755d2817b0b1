"""PostgreSQL keeps what a request was filed with, and decisions with the people who made them.

Against the portal's own database role (which may UPDATE but not switch triggers off,
README "Database roles"):

- A request's requester, justification, SIEM reference and number of approvals required
  never change once filed (approvals_required was the one column that could make one
  approval enough for a two-person task); its task, host, params and fingerprint stay
  frozen once it leaves PENDING_APPROVAL (0012, unchanged).
- ``requester_id`` and a decision's ``approver_id`` may only become NULL when that user no
  longer exists: Django clears them just before it deletes the user, so a deferred
  constraint trigger checks at commit, when the user row is gone. Clearing the id of a user
  who still exists (which let one approver count as two) fails the transaction.

The job proves the approvals again at every claim (responses.workflow.fail_if_unproven) and
verify_audit compares these columns with the keyed FILED event, against the tables' owner.
A no-op on SQLite.
"""

from django.conf import settings
from django.db import migrations

REQUEST_FUNCTION = """
CREATE OR REPLACE FUNCTION portal_request_content_frozen() RETURNS trigger AS $$
BEGIN
    IF OLD.status <> 'pending_approval' AND (
        NEW.task IS DISTINCT FROM OLD.task
        OR NEW.target_host IS DISTINCT FROM OLD.target_host
        OR NEW.params IS DISTINCT FROM OLD.params
        OR NEW.fingerprint IS DISTINCT FROM OLD.fingerprint
    ) THEN
        RAISE EXCEPTION 'request %: task, target_host, params and fingerprint cannot change after approval', OLD.uuid
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.approvals_required IS DISTINCT FROM OLD.approvals_required
        OR NEW.justification IS DISTINCT FROM OLD.justification
        OR NEW.external_ref IS DISTINCT FROM OLD.external_ref
        OR NEW.requester_username IS DISTINCT FROM OLD.requester_username
        OR (NEW.requester_id IS DISTINCT FROM OLD.requester_id AND NEW.requester_id IS NOT NULL)
    THEN
        RAISE EXCEPTION 'request %: requester, justification, external_ref and approvals_required cannot change '
            'after filing', OLD.uuid
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

# TG_ARGV[0]: the column that names a user; TG_ARGV[1]: the users' table.
USER_GONE_FUNCTION = """
CREATE OR REPLACE FUNCTION portal_user_reference_cleared() RETURNS trigger AS $$
DECLARE
    user_column text := TG_ARGV[0];
    old_user bigint := (to_jsonb(OLD) ->> user_column)::bigint;
    still_there boolean;
BEGIN
    IF old_user IS NULL OR (to_jsonb(NEW) ->> user_column) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE id = $1)', TG_ARGV[1]) INTO still_there USING old_user;
    IF still_there THEN
        RAISE EXCEPTION '%.%: user % still exists; the reference to them may only be cleared when they are deleted',
            TG_TABLE_NAME, user_column, old_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

DEFERRED = [
    # (table, trigger, user column)
    ("responses_responserequest", "portal_requester_cleared", "requester_id"),
    ("responses_approval", "portal_approver_cleared", "approver_id"),
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    users = apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table
    schema_editor.execute(REQUEST_FUNCTION, params=None)  # None: its % are PL/pgSQL placeholders, not ours
    schema_editor.execute(USER_GONE_FUNCTION, params=None)
    for table, trigger, column in DEFERRED:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        schema_editor.execute(
            f"CREATE CONSTRAINT TRIGGER {trigger} AFTER UPDATE OF {column} ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"EXECUTE FUNCTION portal_user_reference_cleared('{column}', '{users}')"
        )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, trigger, _column in DEFERRED:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS portal_user_reference_cleared()")
    # 0012's function again: only the content frozen after approval
    from importlib import import_module

    frozen = import_module("responses.migrations.0012_integrity_frozen_content")
    schema_editor.execute(frozen.FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("responses", "0020_identity_event_kinds"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]
    operations = [migrations.RunPython(install, uninstall)]
