"""Changing rows behind the application's back, as the owner of the tables could.

On PostgreSQL the triggers that refuse such changes are switched off for the one
statement (the owner of a table may do that), which is exactly the attack the
keyed audit chain and the fingerprint checks must still catch.
"""

from __future__ import annotations

from django.db import connection


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
