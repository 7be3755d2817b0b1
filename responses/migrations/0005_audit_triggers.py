"""PostgreSQL refuses to change or delete audit rows (a no-op on SQLite, which has no such triggers).

- responses_requestevent: no UPDATE, no DELETE.
- responses_approval and auditlog_logentry: no DELETE; an UPDATE only when it
  does nothing but clear the user reference (approver_id / actor_id) because
  that user was deleted. The usernames kept as text still tell who it was.
TRUNCATE is not covered: whoever may truncate owns the database anyway.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION portal_audit_refuse() RETURNS trigger AS $$
DECLARE
    user_column text := TG_ARGV[0];
BEGIN
    IF TG_OP = 'UPDATE' AND user_column IS NOT NULL
       AND (to_jsonb(NEW) - user_column) = (to_jsonb(OLD) - user_column)
       AND (to_jsonb(NEW) -> user_column) = 'null'::jsonb THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit rows in % cannot be changed or deleted (%)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

TRIGGERS = [
    # (table, user column whose clearing is allowed, or None)
    ("responses_requestevent", None),
    ("responses_approval", "approver_id"),
    ("auditlog_logentry", "actor_id"),
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # None: its % are PL/pgSQL placeholders, not ours
    for table, user_column in TRIGGERS:
        argument = f"'{user_column}'" if user_column else ""
        schema_editor.execute(f"DROP TRIGGER IF EXISTS portal_audit_immutable ON {table}")
        schema_editor.execute(
            f"CREATE TRIGGER portal_audit_immutable BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION portal_audit_refuse({argument})"
        )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, _ in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS portal_audit_immutable ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS portal_audit_refuse()")


class Migration(migrations.Migration):
    dependencies = [
        ("responses", "0004_audit_chain"),
        ("auditlog", "0017_add_actor_email"),
    ]
    operations = [migrations.RunPython(install, uninstall)]
