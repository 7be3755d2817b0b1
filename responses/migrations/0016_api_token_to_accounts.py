"""ApiToken now lives in the accounts app (accounts' migration 0002): out of responses' state only.

The table responses_apitoken, its rows and indexes stay; accounts' model uses it by name.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("responses", "0015_list_indexes"),
        ("accounts", "0002_api_token_from_responses"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ApiToken")],
            database_operations=[],
        ),
    ]
