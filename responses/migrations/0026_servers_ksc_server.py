"""Several KSC servers (issue 26, point 2): every KSC key carries its server.

A request, a host directory row and an outcome name the KSC server (an entry of KSC_SERVERS)
that holds the host, the incident and the task; incident and task ids are unique per
server, not portal-wide. Every existing row was made against the one server of the KSC_*
variables, which is the server named ``primary``: the new columns default to it, and the
host directory's ``server`` (the KSC_HOST address that answered, or "") becomes that name.
A request's fingerprint of ``primary`` is the one it had (models.payload_fingerprint), so
the keyed FILED events stay true.

On PostgreSQL a request's server is frozen with the rest of its content once it leaves
PENDING_APPROVAL (the function of 0012 and 0021, one column more): moving an approved request
to another server is refused by the database, not only by the fingerprint check at submission.
"""

from django.conf import settings
from django.db import migrations, models

REQUEST_FUNCTION = """
CREATE OR REPLACE FUNCTION portal_request_content_frozen() RETURNS trigger AS $$
BEGIN
    IF OLD.status <> 'pending_approval' AND (
        NEW.task IS DISTINCT FROM OLD.task
        OR NEW.target_host IS DISTINCT FROM OLD.target_host
        OR NEW.params IS DISTINCT FROM OLD.params
        OR NEW.fingerprint IS DISTINCT FROM OLD.fingerprint
        OR NEW.server IS DISTINCT FROM OLD.server
    ) THEN
        RAISE EXCEPTION 'request %: task, server, target_host, params and fingerprint cannot change after approval',
            OLD.uuid
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


def directory_on_primary(apps, schema_editor):
    # Before: the KSC_HOST address that answered, or "" for a name known from a filing alone.
    apps.get_model("responses", "HostDirectoryEntry").objects.update(server="primary")


def freeze_server(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(REQUEST_FUNCTION, params=None)  # None: its % are PL/pgSQL placeholders, not ours


def unfreeze_server(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from importlib import import_module

    before = import_module("responses.migrations.0021_integrity_reproof")
    schema_editor.execute(before.REQUEST_FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("responses", "0025_comment_escalation_events"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="hostdirectoryentry",
            name="hostdir_host_name_once",
        ),
        migrations.AddField(
            model_name="responseoutcome",
            name="server",
            field=models.CharField(default="primary", max_length=32),
        ),
        migrations.AddField(
            model_name="responserequest",
            name="server",
            field=models.CharField(default="primary", max_length=32),
        ),
        migrations.AlterField(
            model_name="hostdirectoryentry",
            name="server",
            field=models.CharField(default="primary", max_length=255),
        ),
        migrations.RunPython(directory_on_primary, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="responseoutcome",
            name="ksc_task_id",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="responserequest",
            name="ksc_incident_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="responserequest",
            index=models.Index(fields=["server", "created_at", "id"], name="rr_server_created_id_idx"),
        ),
        migrations.AddConstraint(
            model_name="hostdirectoryentry",
            constraint=models.UniqueConstraint(
                fields=("server", "host_id", "display_name"), name="hostdir_server_host_name_once"
            ),
        ),
        migrations.AddConstraint(
            model_name="responseoutcome",
            constraint=models.UniqueConstraint(fields=("server", "ksc_task_id"), name="outcome_task_once_per_server"),
        ),
        migrations.AddConstraint(
            model_name="responserequest",
            constraint=models.UniqueConstraint(
                fields=("server", "ksc_incident_id"), name="rr_incident_once_per_server"
            ),
        ),
        migrations.RunPython(freeze_server, unfreeze_server),
    ]
