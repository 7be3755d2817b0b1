"""The trail's system texts in the reader's language, at display time only (issue 17, point 8; issue 25, point 7).

The system writes its own messages into the trail in English (responses/trail_messages.py): the
trail is evidence, hashed into the request's chain, and its rows are never rewritten. A Japanese
reader should still read them in Japanese. Each event the system worded keeps its message id and
arguments beside the text (written with the event, or filled by migration 0027_views_trail_message_ids for older rows),
and a page renders that message in the reader's language; a text without them (an analyst's
comment, KSC's own error text) is shown as stored. Nothing is read from the source at run time.

Nothing here changes a stored row; an auditor's export keeps the English text.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import get_language

from responses import trail_messages


def translate(event: Any) -> str:
    """An event's message in the active language when the system wrote it; otherwise as stored."""
    text = event.message or ""
    if not text or (get_language() or "en").startswith("en"):
        return text
    return trail_messages.in_reader_language(text, getattr(event, "message_id", ""), getattr(event, "message_args", {}))
