"""Validation messages in the words of the page: the internal names they quote become the labels shown."""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext_lazy as _


def in_words(message: Any, labels: dict[str, Any]) -> str:
    """A validation message with the internal names it quotes (md5hash, ioc, comment) as their labels.

    The catalog and the workflow name fields as the API does; a person filling a web form knows
    them by the labels on the page. Only whole names are replaced (not "path" in "workingFolderpath").
    """
    text = str(message)
    for name in sorted(labels, key=len, reverse=True):
        quoted = str(_("“%(label)s”") % {"label": labels[name]})  # 「」 in Japanese
        pad = " ?" if quoted.startswith("「") else ""  # Japanese puts no space beside 「」
        text = re.sub(rf"{pad}(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_]){pad}", lambda _m, q=quoted: q, text)
    return text
