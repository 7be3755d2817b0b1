"""Text from users (justifications, comments, KSC's errors) made harmless for each channel's markup.

A justification is written by whoever files a request, and a SIEM files them
from alert fields an attacker may shape. Put in a message as it is, it could
add a link ("[reset your password](https://evil)"), ping a whole channel
(``@channel``, ``<!here>``) or break the layout. So every user-supplied value
goes through ``user_text()`` for the format the channel renders:

- every format: control characters become spaces; links are defanged the way
  SOC analysts write indicators (``hxxps://evil[.]example``), so no client
  turns them into something to click; ``@name`` gets a zero-width space after
  the ``@``, so it mentions nobody; ``<`` and ``>`` become ``‹`` ``›`` (Slack's
  ``<!channel>`` and ``<url|text>``, HTML tags);
- markdown: CommonMark's punctuation is backslash-escaped as well;
- html: then HTML-escaped.

The portal's own text (labels, the request's link) is not passed through here.
"""

from __future__ import annotations

import html
import re
import unicodedata

TEXT = "text"
MARKDOWN = "markdown"
HTML = "html"
FORMATS = (TEXT, MARKDOWN, HTML)

_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]{1,20})://([^\s/?#]+)")
_WWW = re.compile(r"(?i)\bwww\.")
_BARE_DOMAIN = re.compile(r"(?i)\b([a-z0-9-]+)\.(com|net|org|io|ru|cn|info|biz|xyz|top|app|dev|me|co)\b")
_MENTION = re.compile(r"@(?=[\w.\-])")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def shorten(text: str, limit: int) -> str:
    """One line, at most ``limit`` characters, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)].rstrip() + "…"


def _defang_url(match: re.Match) -> str:
    scheme, host = match.group(1), match.group(2)
    scheme = re.sub(r"(?i)^http", lambda m: "hxxp" if m.group(0).islower() else "HXXP", scheme)
    return f"{scheme}[://]{host.replace('.', '[.]')}"


def defang(text: str) -> str:
    """Links and mentions that no client can follow or resolve."""
    text = _URL.sub(_defang_url, text)
    text = _WWW.sub(lambda m: m.group(0)[:-1] + "[.]", text)
    text = _BARE_DOMAIN.sub(lambda m: f"{m.group(1)}[.]{m.group(2)}", text)
    text = _MENTION.sub("@\u200b", text)
    return text.replace("<", "‹").replace(">", "›")


def user_text(value: object, fmt: str, limit: int = 300) -> str:
    """A user-supplied value, shortened to one line and made inert for ``fmt``."""
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in str(value or ""))
    text = defang(shorten(text, limit))
    if fmt == MARKDOWN:
        return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    if fmt == HTML:
        return html.escape(text, quote=True)
    return text
