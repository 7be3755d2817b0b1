"""Changing rows behind the application's back, as the owner of the tables could.

On PostgreSQL the triggers that refuse such changes are switched off for the one
statement (the owner of a table may do that), which is exactly the attack the
keyed audit chain and the fingerprint checks must still catch.
"""

from __future__ import annotations

from django.db import connection, transaction


def tamper(sql: str, params: list, *, table: str, trigger: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # flush deferred FK checks before ALTER TABLE
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


def tamper_event(sql: str, params: list) -> None:
    tamper(sql, params, table="responses_requestevent", trigger="portal_audit_immutable")


def tamper_request(sql: str, params: list) -> None:
    tamper(sql, params, table="responses_responserequest", trigger="portal_request_content_frozen")


def tamper_decision(sql: str, params: list) -> None:
    """As the owner: a decision changed with its append-only and user-gone triggers off."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE responses_approval DISABLE TRIGGER portal_audit_immutable")
            cursor.execute("ALTER TABLE responses_approval DISABLE TRIGGER portal_approver_cleared")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE responses_approval ENABLE TRIGGER portal_approver_cleared")
            cursor.execute("ALTER TABLE responses_approval ENABLE TRIGGER portal_audit_immutable")


class PortalRole:
    """The portal's own database role as README's "Database roles" sets it up: it may read and
    write every table but owns none, so it cannot switch a trigger off.

    ``run(sql, params)`` runs one statement as that role, in a transaction of its own (with
    real commits, deferred triggers fire at its commit). PostgreSQL only; the role is dropped afterwards.
    """

    def __init__(self) -> None:
        # Roles are per cluster: named after the test database, so that parallel suites never share one.
        self.name = f"edr_app_{connection.settings_dict['NAME']}"[:63]

    def create(self) -> None:
        with connection.cursor() as cursor:
            self.drop()
            cursor.execute(f'CREATE ROLE "{self.name}"')
            cursor.execute(f'GRANT USAGE ON SCHEMA public TO "{self.name}"')
            cursor.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{self.name}"')
            cursor.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{self.name}"')

    def run(self, sql: str, params: list) -> None:
        # One transaction (a savepoint inside a test's): its end fires the deferred triggers, and a
        # refusal rolls it back, SET ROLE included, so the test goes on as the owner either way.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'SET ROLE "{self.name}"')
            cursor.execute(sql, params)
            cursor.execute("RESET ROLE")

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [self.name])
            if cursor.fetchone():
                cursor.execute(f'DROP OWNED BY "{self.name}"')
                cursor.execute(f'DROP ROLE "{self.name}"')
