"""Looking for late copies for as long as KSC may still carry out an AddIncident, and tries scheduled in the database.

ksc_search_from and ksc_search_checks: after an outcome-unknown AddIncident, the late duplicate
check runs again and again (settle, 2x, 4x, ...) until KSC_UNKNOWN_OUTCOME_SEARCH after it.
next_try_at and wait_reason: a QUEUED request that waits (settle, back-off, an UpdateIncident
still to make, KSC's certificate refused) says until when and why; the keeper queues it then.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("responses", "0023_host_directory"),
    ]

    operations = [
        migrations.AddField(
            model_name="responserequest",
            name="ksc_search_from",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="responserequest",
            name="ksc_search_checks",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="responserequest",
            name="next_try_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="responserequest",
            name="wait_reason",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddIndex(
            model_name="responserequest",
            index=models.Index(
                condition=models.Q(("next_try_at__isnull", False)), fields=["next_try_at"], name="rr_next_try_at_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="responserequest",
            index=models.Index(
                condition=models.Q(("ksc_recheck_at__isnull", False)),
                fields=["ksc_recheck_at"],
                name="rr_ksc_recheck_at_idx",
            ),
        ),
    ]
