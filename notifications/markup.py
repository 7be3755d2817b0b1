"""Text from users (justifications, comments, KSC's errors) made harmless for each channel's markup.

A justification is written by whoever files a request, and a SIEM files them
from alert fields an attacker may shape. Put in a message as it is, it could
add a link ("[reset your password](https://evil)"), ping a whole channel
(``@channel``, ``<!here>``) or break the layout. So every user-supplied value
goes through ``user_text()`` for the format the channel renders:

- every format: control characters become spaces; links are defanged the way
  SOC analysts write indicators (``hxxps[://]evil[.]example``), so no client
  turns them into something to click: every ``://`` whatever precedes it
  (``1https://``, ``_https://``), and every dot (ASCII, full-width or
  ideographic) between two label characters, whatever the top-level domain;
  ``@name`` gets a zero-width space after
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

# "http" right before "://" (or "s://"), whatever precedes it: "1https://" is a link to some clients.
_HTTP = re.compile(r"(?i)http(?=s?://)")
# A dot between two characters that may stand in a host name: every domain, every TLD ("evil.zip",
# "evil.рф"); the full-width and ideographic dots too, which some clients read as dots in a link.
_LABEL_DOT = re.compile(r"(?<=[\w-])[.\u3002\uff0e\uff61](?=[\w-])")
_MENTION = re.compile(r"@(?=[\w.\-])")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def shorten(text: str, limit: int) -> str:
    """One line, at most ``limit`` characters, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)].rstrip() + "…"


def defang(text: str) -> str:
    """Links and mentions that no client can follow or resolve."""
    text = _HTTP.sub(lambda m: "hxxp" if m.group(0).islower() else "HXXP", text)
    text = text.replace("://", "[://]")
    text = _LABEL_DOT.sub("[.]", text)
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
