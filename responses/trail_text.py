"""The trail's system texts in the reader's language, at display time only (issue 17, point 8).

The system writes its own messages into the trail in English (workflow._in_english): the
trail is evidence, hashed into the request's chain, and its rows are never rewritten. A
Japanese reader should still read them in Japanese. So a page maps each stored text back to
the message it came from and shows that message's translation:

- an event whose ``detail`` holds ``message_id`` (the English msgid) and ``message_args``
  is shown from those;
- any other text is matched against the msgids the trail's writers use (read once from their
  source with ``ast``: every ``_("...")`` in them), placeholders becoming groups. A text that
  matches none (an analyst's comment, KSC's own error text) is shown as stored.

Nothing here changes a stored row; an auditor's export keeps the English text.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext as _

# The modules whose _("...") texts reach the trail (trail.append / trail.in_english callers).
WRITERS = ("workflow.py", "submission.py", "queueing.py", "trail.py", "outcomes.py", "jobs.py", "review.py")
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _msgids(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("_", "gettext", "gettext_lazy", "gettext_noop")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


@functools.cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(full-match pattern of the English text, msgid), the longest literal text first."""
    here = Path(__file__).resolve().parent
    msgids = set().union(*(_msgids(here / name) for name in WRITERS if (here / name).exists()))
    patterns = []
    for msgid in msgids:
        parts = _PLACEHOLDER.split(msgid)
        # split() alternates literal text and placeholder names
        regex = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)" for index, part in enumerate(parts))
        if len(set(parts[1::2])) != len(parts[1::2]):
            continue  # a name used twice cannot be one named group; no trail text does that
        literal = sum(len(part) for part in parts[0::2])
        if literal >= 8:  # "%(error)s" alone would match anything
            patterns.append((literal, re.compile(regex + r"\Z", re.S), msgid))
    patterns.sort(key=lambda item: -item[0])
    return tuple((pattern, msgid) for _length, pattern, msgid in patterns)


def translate(text: str, detail: dict[str, Any] | None = None) -> str:
    """``text`` (as stored in English) in the active language when it is one of the system's messages."""
    if not text or (get_language() or "en").startswith("en"):
        return text
    detail = detail or {}
    if isinstance(detail.get("message_id"), str):
        args = detail.get("message_args") if isinstance(detail.get("message_args"), dict) else {}
        try:
            return _(detail["message_id"]) % {key: translate(str(value)) for key, value in args.items()}
        except (KeyError, ValueError, TypeError):
            return text
    for pattern, msgid in _patterns():
        match = pattern.match(text)
        if match:
            # A placeholder's value may itself be a system message ("%(error)s — KSC may have...").
            values = {key: translate(value) for key, value in match.groupdict().items()}
            try:
                return _(msgid) % values
            except (KeyError, ValueError, TypeError):
                return text
    return text


def matched_by(text: str) -> str:
    """How a KSC task was recognised (ResponseOutcome.matched_by, English parts joined with ", "), in the
    reader's language: each part that is one of outcomes.MATCHED_BY is translated, others stay as stored."""
    if not text or (get_language() or "en").startswith("en"):
        return text
    parts = [translate(part.strip()) for part in re.split(r", (?![^()]*\))", text)]
    return "、".join(parts) if (get_language() or "").startswith("ja") else ", ".join(parts)
