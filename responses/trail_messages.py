"""The system's words in a request's trail, kept as data: a message id and its arguments.

The trail is evidence: each event's ``message`` is hashed into the request's keyed chain
(docs/audit-chain.md), so the system writes it in English, whoever's page caused it, and it is
never rewritten. Beside it, an event the system worded keeps ``message_id`` (the English msgid,
marked with ``gettext_noop`` where it is written) and ``message_args``, so that a page renders
the message in the reader's language at display time (``render``), with no guessing from the
text. Arguments that are themselves system messages are kept nested, and rendered too;
anything else (an incident id, KSC's own error text) is shown as it is.

``say(msgid, **args)`` words a message: a ``Said``, a ``str`` (the English text, what the trail
stores and hashes) that also carries its id and arguments to ``trail.append``. The id and
arguments are not part of the hash (rows written before them got theirs from migration 0030_views_trail_message_ids,
where their text showed which message they were): a page renders them only when they give back
exactly the stored English text, so an edited id or argument can never show a reader other words
than the evidence holds.
"""

from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

# Two messages in one event (the first, then the second): not a text to translate.
JOINED = "%(first)s %(second)s"


class Said(str):
    """A system message: its English text (the ``str``), with ``message_id`` and ``args``."""

    message_id: str
    args: dict[str, Any]

    def __new__(cls, message_id: str, args: dict[str, Any] | None = None) -> Said:
        args = dict(args or {})
        self = super().__new__(cls, english(message_id, as_data(args)))
        self.message_id = message_id
        self.args = args
        return self


def say(message_id: str, **args: Any) -> Said:
    """The message ``message_id`` (an English msgid, marked with gettext_noop) with its arguments."""
    return Said(message_id, args)


def joined(first: str, second: str) -> Said:
    """Two messages as one event's text, "first second"; each rendered in the reader's language."""
    return Said(JOINED, {"first": first, "second": second})


def as_data(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments as stored (JSON): a nested message as its id and arguments, numbers as they are, else text."""
    stored: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, Said):
            stored[key] = {"message_id": value.message_id, "message_args": as_data(value.args)}
        elif isinstance(value, bool) or not isinstance(value, int | float):
            stored[key] = str(value)
        else:
            stored[key] = value
    return stored


def _value(value: Any) -> Any:
    if isinstance(value, dict) and isinstance(value.get("message_id"), str):
        return render(value["message_id"], value.get("message_args"))
    return value


def render(message_id: str, args: Any) -> str:
    """The message in the active language; ValueError when the id and arguments do not make one."""
    values = {key: _value(value) for key, value in args.items()} if isinstance(args, dict) else {}
    template = message_id if message_id == JOINED else _(message_id)
    try:
        return template % values if values or "%(" in template else template
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"message {message_id!r} does not take these arguments: {error}") from None


def english(message_id: str, args: Any) -> str:
    """The message as the trail stores it, in English."""
    with translation.override("en"):
        return render(message_id, args)


def in_reader_language(text: str, message_id: str, args: Any) -> str:
    """An event's text for the reader: its message rendered in the active language, when the stored id and
    arguments give back exactly the stored English text; otherwise the text as stored."""
    if not message_id or not text:
        return text
    try:
        if english(message_id, args) != text:
            return text  # the id or arguments do not match the evidence: show the evidence
        return render(message_id, args)
    except ValueError:
        return text
