"""Trail messages stored as data (issue 25, point 7): an id and arguments beside the hashed English text.

Pages render them in the reader's language; an id or argument that does not give back the stored
text is never shown; the chain's hash is the same as before; older rows get their ids from the
migration, and an analyst's words are never taken for the system's.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import inspect
import types

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from audit import chain as audit_chain
from responses import trail, trail_messages, trail_text, workflow
from responses.models import EventKind, RequestEvent, ResponseRequest
from tests.fixtures.accounts import sign_in
from tests.support.filing import file_request
from tests.support.tampering import tamper_event

EXPIRED = "Nobody decided within the approval window (%(hours)s hours)."
MIGRATION = importlib.import_module("responses.migrations.0030_views_trail_message_ids")


def expired(alice) -> ResponseRequest:
    rr = file_request(user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="x")
    ResponseRequest.objects.filter(pk=rr.pk).update(expires_at=timezone.now() - dt.timedelta(hours=1))
    assert workflow.expire_overdue() == 1
    return rr


def page(client, user, rr, language: str) -> str:
    sign_in(client, user)
    return client.get(f"/requests/{rr.uuid}/", HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_the_system_writes_its_message_as_an_id_and_arguments_beside_the_english_text(alice):
    event = expired(alice).events.get(kind=EventKind.EXPIRED)

    hours = settings.APPROVAL_TTL // 3600  # whole hours in the test settings
    assert (event.message_id, event.message_args) == (EXPIRED, {"hours": hours})
    assert event.message == EXPIRED % {"hours": hours}


def test_the_page_renders_it_in_the_readers_language(client, alice):
    rr = expired(alice)
    hours = settings.APPROVAL_TTL // 3600  # whole hours in the test settings

    japanese = page(client, alice, rr, "ja")
    english = page(client, alice, rr, "en")

    assert f"承認期間（{hours} 時間）内に誰も判断しませんでした。" in japanese
    assert EXPIRED % {"hours": hours} not in japanese
    assert EXPIRED % {"hours": hours} in english


def test_the_hash_covers_the_english_text_only_and_the_chain_still_verifies(alice):
    event = expired(alice).events.get(kind=EventKind.EXPIRED)

    assert set(event.content()) == {"kind", "actor", "before", "after", "message", "detail", "at"}
    assert audit_chain.verify().intact


def test_an_edited_id_or_argument_never_shows_other_words_than_the_evidence(client, alice):
    rr = expired(alice)
    event = rr.events.get(kind=EventKind.EXPIRED)
    tamper_event(
        "UPDATE responses_requestevent SET message_id = %s WHERE id = %s", ["This task needs no approval.", event.pk]
    )

    japanese = page(client, alice, rr, "ja")

    assert "このタスクは承認不要です。" not in japanese
    assert event.message in japanese  # the stored English text, the evidence
    tamper_event("UPDATE responses_requestevent SET message_id = %s, message_args = %s WHERE id = %s",
                 [EXPIRED, '{"hours": "NINETYNINE"}', event.pk])  # fmt: skip
    assert "NINETYNINE" not in page(client, alice, rr, "ja")


def test_nested_and_joined_messages_render_each_part():
    inner = trail_messages.say(gettext_noop("Removed: %(removed)s."), removed="7")
    outer = trail_messages.joined(
        trail_messages.say(
            gettext_noop("%(error)s — KSC may have created this incident; the portal keeps checking."), error=inner
        ),
        trail_messages.say(gettext_noop("This task needs no approval.")),
    )

    assert outer == (
        "Removed: 7. — KSC may have created this incident; the portal keeps checking. This task needs no approval."
    )
    stored = trail_messages.as_data(outer.args)
    assert stored["first"]["message_args"]["error"] == {"message_id": "Removed: %(removed)s.", "message_args": {"removed": "7"}}
    with translation.override("ja"):
        shown = trail_messages.in_reader_language(str(outer), outer.message_id, stored)
    assert "このタスクは承認不要です。" in shown and "This task needs no approval." not in shown
    assert trail_messages.in_reader_language("typed by hand", "", {}) == "typed by hand"


def test_a_message_that_does_not_take_its_arguments_is_shown_as_stored():
    with translation.override("ja"):
        assert trail_messages.in_reader_language("x", EXPIRED, {"wrong": 1}) == "x"


def test_trail_text_reads_no_source_at_run_time():
    tree = ast.parse(inspect.getsource(trail_text))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
                for alias in node.names} | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}  # fmt: skip
    assert "ast" not in imported and "pathlib" not in imported


def _run_the_migrations_fill():
    editor = types.SimpleNamespace(connection=connection, execute=lambda sql: connection.cursor().execute(sql))
    MIGRATION.fill_message_ids(apps, editor)


def test_the_migration_fills_ids_of_older_rows_and_leaves_peoples_words_alone(alice):
    rr = file_request(user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="x")
    old = {
        "expired": EXPIRED % {"hours": "24"},
        "duplicate": (
            "DUPLICATE NOT REMOVED: KSC holds incidents 1, 2 for this one request; kept 1, but could not delete 2 "
            "(boom). Delete them in KSC by hand, or KES may carry out this response twice. Removed: 3."
        ),
        "held": "Held back: 5 requests were submitted to KSC in the last hour (KSC_SUBMIT_HOURLY_CAP).",
    }
    with transaction.atomic():
        locked = ResponseRequest.objects.select_for_update().get(pk=rr.pk)
        # Rows as an older release wrote them: plain text, no id.
        written = {name: trail.append(locked, EventKind.HELD, trail.SYSTEM, locked.status, text) for name, text in old.items()}
        # An analyst who typed a system text as a comment: people's words are never read as the system's.
        comment = trail.append(locked, EventKind.COMMENT, "alice", locked.status, "This task needs no approval.")
    assert all(event.message_id == "" for event in written.values())

    _run_the_migrations_fill()

    found = {name: RequestEvent.objects.get(pk=event.pk) for name, event in written.items()}
    assert (found["expired"].message_id, found["expired"].message_args) == (EXPIRED, {"hours": "24"})
    assert found["held"].message_args == {"cap": 5}
    assert found["duplicate"].message_id == trail_messages.JOINED
    assert found["duplicate"].message_args["second"] == {"message_id": "Removed: %(removed)s.", "message_args": {"removed": "3"}}
    for event in found.values():
        assert trail_messages.english(event.message_id, event.message_args) == event.message
    assert RequestEvent.objects.get(pk=comment.pk).message_id == ""
    assert audit_chain.verify().intact  # the hashed text is as it was
