# AccountEvent moved to accounts, AuditAnchor and ChainVerification to audit (issue 25): the state
# forgets them here; the tables and their rows stay (accounts 0005, audit 0001 take them over).
# Their content types follow them, so the permissions granted on them stay granted.

from django.db import migrations

MOVED = {"accountevent": "accounts", "auditanchor": "audit", "chainverification": "audit"}


def move_content_types(apps, schema_editor, forward=True):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model, app in MOVED.items():
        old, new = ("responses", app) if forward else (app, "responses")
        if ContentType.objects.using(db).filter(app_label=new, model=model).exists():
            continue  # created already (post_migrate of an earlier run): keep that one
        ContentType.objects.using(db).filter(app_label=old, model=model).update(app_label=new)


def move_back(apps, schema_editor):
    move_content_types(apps, schema_editor, forward=False)


class Migration(migrations.Migration):

    dependencies = [
        ("responses", "0026_chat_review_events"),
        ("accounts", "0005_apps_account_event"),
        ("audit", "0001_apps_audit_models"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="AccountEvent"),
                migrations.DeleteModel(name="AuditAnchor"),
                migrations.DeleteModel(name="ChainVerification"),
            ],
        ),
        migrations.RunPython(move_content_types, move_back),
    ]
