"""The system's texts in the reader's language, at display time only (issue 17, point 8; issue 25, point 7).

The system writes its own messages in English: the trail is evidence, hashed into the request's
chain, and its rows are never rewritten. A Japanese reader should still read them in Japanese.

- A trail event the system worded keeps its message id and arguments beside the text
  (responses/trail_messages.py; written with the event, or filled by migration
  0030_views_trail_message_ids for older rows): ``translate_event`` renders that message in the
  reader's language. A text without them (an analyst's comment, KSC's own error text) is shown as stored.
- Texts kept outside the trail (an outcome's reason, how its task was matched) are matched against
  the messages that module declares (``outcomes.SYSTEM_TEXTS``), placeholders becoming groups.

Nothing is read from the source at run time. Nothing here changes a stored row; an auditor's
export keeps the English text.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from responses import outcomes, trail_messages

_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _english_reader() -> bool:
    return (get_language() or "en").startswith("en")


def translate_event(event: Any) -> str:
    """A trail event's message in the active language when the system wrote it; otherwise as stored."""
    text = event.message or ""
    if not text or _english_reader():
        return text
    return trail_messages.in_reader_language(text, getattr(event, "message_id", ""), getattr(event, "message_args", {}))


@functools.cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(full-match pattern of the English text, msgid) of outcomes.SYSTEM_TEXTS, the longest literal text first."""
    patterns = []
    for msgid in set(outcomes.SYSTEM_TEXTS):
        parts = _PLACEHOLDER.split(msgid)  # literal text and placeholder names, alternately
        regex = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)" for index, part in enumerate(parts))
        if len(set(parts[1::2])) != len(parts[1::2]):
            continue  # a name used twice cannot be one named group
        literal = sum(len(part) for part in parts[0::2])
        if literal >= 8:  # "%(error)s" alone would match anything
            patterns.append((literal, re.compile(regex + r"\Z", re.S), msgid))
    patterns.sort(key=lambda item: -item[0])
    return tuple((pattern, msgid) for _length, pattern, msgid in patterns)


def translate(text: str) -> str:
    """A text kept outside the trail (an outcome's reason), in the active language when it is one of
    outcomes.SYSTEM_TEXTS; otherwise as stored."""
    if not text or _english_reader():
        return text
    for pattern, msgid in _patterns():
        match = pattern.match(text)
        if match:
            values = {key: translate(value) for key, value in match.groupdict().items()}
            try:
                return _(msgid) % values
            except (KeyError, ValueError, TypeError):
                return text
    return text


def matched_by(text: str) -> str:
    """How a KSC task was recognised (ResponseOutcome.matched_by, English parts joined with ", "), in the
    reader's language: each part that is one of outcomes.MATCHED_BY is translated, others stay as stored."""
    if not text or _english_reader():
        return text
    parts = [translate(part.strip()) for part in re.split(r", (?![^()]*\))", text)]
    return "、".join(parts) if (get_language() or "").startswith("ja") else ", ".join(parts)
