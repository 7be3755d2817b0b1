"""Characters nobody can see: what a username shown to approvers (accounts/directory.py) and a
request's params (responses/catalog.py) must not hold."""

from __future__ import annotations

import unicodedata

# Characters that draw as nothing (or as a plain space) but are not one, outside the
# categories refused as a whole: Hangul and braille fillers, joiners that are marks.
INVISIBLE_FILLERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")
# Cf: format (bidi overrides and isolates, zero-width space/joiners, BOM, soft hyphen);
# Zl/Zp: line and paragraph separators; Co/Cs: private use and lone surrogates.
INVISIBLE_CATEGORIES = frozenset({"Cf", "Zl", "Zp", "Co", "Cs"})


def char_name(ch: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: how a page or a message names a character nobody can see."""
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')}"


def invisible_char(value: str) -> str | None:
    """The first invisible character in ``value`` (see INVISIBLE_CATEGORIES), or None."""
    for ch in value:
        if ch in INVISIBLE_FILLERS or unicodedata.category(ch) in INVISIBLE_CATEGORIES:
            return ch
    return None
