"""Approval is now Decision (it holds rejections too); submission events get one kind per kind of event.

The table keeps its name, responses_approval: the append-only triggers of 0005 stay
attached to it, and the model's old rows (and their audit history) are untouched.
The event kind "attempt" stays a valid choice, so that rows written before the split
into "claimed", "adopted" and "retry_scheduled" stay readable (the audit chain
hashes rows as written: they are never rewritten).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("responses", "0016_api_token_to_accounts"),
    ]

    operations = [
        # Pin the table name first, so that the rename below renames no table.
        migrations.AlterModelTable(name="approval", table="responses_approval"),
        migrations.RenameModel(old_name="Approval", new_name="Decision"),
        migrations.AlterField(
            model_name="requestevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("filed", "Filed"),
                    ("approved", "Approved"),
                    ("approval_added", "Approval added"),
                    ("rejected", "Rejected"),
                    ("cancelled", "Cancelled"),
                    ("expired", "Expired"),
                    ("queued", "Queued"),
                    ("enqueue_failed", "Could not queue"),
                    ("attempt", "Submission attempt"),
                    ("claimed", "Submission attempt started"),
                    ("adopted", "Incident found in KSC adopted"),
                    ("retry_scheduled", "Retry scheduled"),
                    ("submitted", "Submitted"),
                    ("failed", "Failed"),
                    ("retried", "Retried"),
                    ("requeued", "Re-queued"),
                    ("held", "Held back"),
                    ("duplicate_check", "Checked KSC for duplicates"),
                    ("duplicate_removed", "Duplicate removed"),
                    ("duplicate_kept", "Duplicate NOT removed"),
                    ("found_in_ksc", "Found in KSC"),
                    ("search_ended", "Stopped looking in KSC"),
                    ("outcome", "Outcome on the host"),
                ],
                max_length=20,
            ),
        ),
    ]
