"""The audit trail of a response request: one place appends to it and words the system's messages.

Every event goes through ``append()``, into the request's keyed hash chain
(responses/request_chain.py, a kind of audit/chain.py), in the caller's transaction. The system's own words are
written in English (``in_english()``), whatever the language of the page that
caused a transition. The JSON-lines export and its comparison stay in
audit/export.py.
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils import timezone, translation

from responses import request_chain, trail_messages
from responses.models import RequestEvent, ResponseRequest
from responses.states import PRIMARY_SERVER

SYSTEM = "system"  # actor of transitions made by jobs


def append(
    rr: ResponseRequest,
    kind: str,
    actor: str,
    before: str,
    message: str = "",
    detail: dict | None = None,
) -> RequestEvent:
    """Append one event to the request's trail, its keyed hash chain, in the caller's transaction.

    Every event of a request on a server other than ``primary`` names it (``detail["server"]``):
    an auditor reading one event, or an export, knows which KSC it concerns. Events of ``primary``
    leave it out, as every event did before several servers (the chain keeps them as written).
    A ``message`` the system worded (trail_messages.say) keeps its id and arguments beside the text.
    """
    said = message if isinstance(message, trail_messages.Said) else None
    detail = dict(detail or {})
    if rr.server != PRIMARY_SERVER:
        detail.setdefault("server", rr.server)
    event = RequestEvent(
        request=rr,
        kind=kind,
        actor_username=actor,
        status_before=before,
        status_after=rr.status,
        message=str(message),
        message_id=said.message_id if said is not None else "",
        message_args=trail_messages.as_data(said.args) if said is not None else {},
        detail=detail,
        created_at=timezone.now(),
    )
    return request_chain.append_request_event(event)


def in_english(message: Callable[[], str]) -> str:
    """The system's own words in the trail are written in English, whoever's request triggered them.

    Prefer trail_messages.say(gettext_noop("..."), **args): the event then keeps the message's id and
    arguments too, and pages show it in the reader's language.

    The trail is evidence: its text must not depend on the language of the page that
    happened to cause a transition (and the hash chain fixes it for ever).
    """
    with translation.override("en"):
        return message()

