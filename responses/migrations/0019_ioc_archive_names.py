"""The uploaded file name of each IOC archive, kept with the request to be shown beside its size and SHA-256.

Not content: never sent to KSC, not in the fingerprint, so the frozen-content trigger of 0012
leaves it alone. Requests filed before, and every request from the API, have none ({}).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("responses", "0018_chain_verifications"),
    ]

    operations = [
        migrations.AddField(
            model_name="responserequest",
            name="archive_names",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
