"""PostgreSQL refuses to change what was decided on once a request has left PENDING_APPROVAL.

task, target_host, params and fingerprint are what approvers approved and what
the job sends to KSC. Before a decision they are already fixed by the workflow
(nothing edits a request), after it the database itself refuses: an UPDATE by
hand or by a bug fails instead of sending something nobody approved. Whoever
owns the table can still drop the trigger, which is why the job also compares
fingerprints (workflow.claim_for_submission) and the portal should run under a
role that does not own its tables (README, Security). A no-op on SQLite.
"""

from django.db import migrations

FUNCTION = """
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
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # None: its % are PL/pgSQL placeholders, not ours
    schema_editor.execute("DROP TRIGGER IF EXISTS portal_request_content_frozen ON responses_responserequest")
    schema_editor.execute(
        "CREATE TRIGGER portal_request_content_frozen BEFORE UPDATE ON responses_responserequest "
        "FOR EACH ROW EXECUTE FUNCTION portal_request_content_frozen()"
    )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS portal_request_content_frozen ON responses_responserequest")
    schema_editor.execute("DROP FUNCTION IF EXISTS portal_request_content_frozen()")


class Migration(migrations.Migration):
    dependencies = [("responses", "0011_ksc_outcome_unknown")]
    operations = [migrations.RunPython(install, uninstall)]
