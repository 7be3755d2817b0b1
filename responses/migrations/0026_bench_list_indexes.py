# The lists at a million requests (issue 24, point 4's target of 50 ms a page): the approval queue's
# isolation note per host, the "Needs attention" count of a requester's recent requests, and
# statistics that let PostgreSQL's planner see that half the isolateHost requests are releases.

from django.conf import settings
from django.db import migrations, models

# Without these, the planner takes `params -> 'action' = '1'` to match 0.5% of rows (its default for
# an expression it knows nothing of) and sorts every isolation of a host instead of reading its
# newest through rr_isolation_host_idx. PostgreSQL only (14 and later have expression statistics).
STATISTICS = (
    "CREATE STATISTICS IF NOT EXISTS rr_params_action_stats ON (params -> 'action') FROM responses_responserequest"
)
DROP_STATISTICS = "DROP STATISTICS IF EXISTS rr_params_action_stats"


def create_statistics(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or connection.pg_version < 140000:
        return
    with connection.cursor() as cursor:
        cursor.execute(STATISTICS)
        cursor.execute("ANALYZE responses_responserequest")


def drop_statistics(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP_STATISTICS)


class Migration(migrations.Migration):
    dependencies = [
        ("responses", "0027_servers_scope_event_kind"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="responserequest",
            index=models.Index(
                condition=models.Q(("status", "submitted"), ("task", "isolateHost")),
                fields=["target_host", "submitted_at", "id"],
                name="rr_isolation_host_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="responserequest",
            index=models.Index(fields=["requester", "updated_at"], name="rr_requester_updated_idx"),
        ),
        migrations.RunPython(create_statistics, drop_statistics),
    ]
