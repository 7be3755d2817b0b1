"""``{{ value|reveal_hidden }}``: approvers see every character they approve.

Unusual whitespace (a no-break or ideographic space, a tab) and invisible characters
that validation let through (a joiner in a justification) are drawn as a visible
marker naming the character, so that two texts that look the same on the page are
never different underneath. Everything else is escaped as usual.
"""

from __future__ import annotations

import unicodedata

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from responses import catalog

register = template.Library()

# Plain spaces and line breaks (browsers send \r\n from text areas) are what they look like.
_ORDINARY = frozenset(" \n\r")


def is_unusual(ch: str) -> bool:
    if ch in _ORDINARY:
        return False
    return unicodedata.category(ch) in ("Zs", "Cc") or catalog.invisible_char(ch) is not None


@register.filter
def reveal_hidden(value) -> SafeString:
    if value is None:
        return mark_safe("")
    text = str(value)
    # Printable ASCII (with plain line breaks) holds nothing unusual: a page of justifications is
    # answered without a look at each character (the approval queue shows five such texts per request).
    if text.isascii() and text.replace("\n", "").replace("\r", "").isprintable():
        return conditional_escape(text)
    if not any(is_unusual(ch) for ch in text):
        return conditional_escape(text)
    parts = []
    for ch in text:
        if is_unusual(ch):
            code = f"U+{ord(ch):04X}"
            parts.append(format_html('<span class="unusual" title="{}">[{}]</span>', catalog.char_name(ch), code))
        else:
            parts.append(conditional_escape(ch))
    return mark_safe("".join(parts))


@register.filter
def reveal_username(value) -> SafeString:
    """A username as shown on pages: ``oscar\\u200b`` is drawn ``oscar[U+200B]``, never as ``oscar``.

    Directory sign-ins refuse such names (accounts/directory.py, clean_username); accounts
    made before that, or by an administrator, still show what they really are.
    """
    return reveal_hidden(value)
