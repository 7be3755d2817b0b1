"""ApiToken moves from the responses app to accounts; its table stays where it is.

State only: the table keeps its name (responses_apitoken, set as db_table), its rows,
its indexes and the user foreign key; nothing in the database is rebuilt. The content
type is renamed instead of replaced, so django-auditlog's entries about who issued and
revoked tokens (and any permission granted on tokens) stay attached to the model.
responses' migration 0016 takes the model out of responses' state after this one.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _move_content_type(apps, from_label: str, to_label: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    if ContentType.objects.filter(app_label=to_label, model="apitoken").exists():
        return  # created already (by post_migrate on a half-upgraded database): leave both as they are
    ContentType.objects.filter(app_label=from_label, model="apitoken").update(app_label=to_label)


def forwards(apps, schema_editor):
    _move_content_type(apps, "responses", "accounts")


def backwards(apps, schema_editor):
    _move_content_type(apps, "accounts", "responses")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_directory"),
        ("responses", "0015_list_indexes"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiToken",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(blank=True, help_text="what the token is for, e.g. the SIEM's name", max_length=100)),
                        ("key_prefix", models.CharField(max_length=16)),
                        ("key_hash", models.CharField(editable=False, max_length=64, unique=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                        ("last_used_at", models.DateTimeField(blank=True, null=True)),
                        ("scope", models.CharField(choices=[("file", "File and read"), ("decisions", "File, read and decide (approve, reject, retry)")], default="file", max_length=16)),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="api_tokens", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "responses_apitoken",
                        "ordering": ["user", "-created_at"],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
