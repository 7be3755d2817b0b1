"""KSC's trouble in words for the reader (issue 30, point 4).

KSC's own errors name what to fix in the portal's configuration ("check KSC_USER, KSC_PASSWORD,
KSC_DOMAIN ..."): that is for the portal's administrators, and for the log, where it stays whole.
Analysts and approvers read what it means for them instead: KSC refused the portal's login, tell
the administrator; nothing was sent. A page says that once, and each later place that would have
repeated KSC's text points to it. Who reads the whole text is
responses.policy's to say (``sees_ksc_configuration``).
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _

from ksc_client.errors import KscAuthError
from responses import policy

# The attribute of a page's HttpRequest that remembers the login refusal was said on it.
SAID = "ksc_login_refusal_said"
# What ksc_client/transport.py says when KSC refuses the portal's login (or wants a second factor of it).
_LOGIN_REFUSED_MARKS = ("refused the login of user", "requires two-factor authentication for user")
# "; check KSC_USER, KSC_PASSWORD, ... locked.": what to change in the KSC settings, for administrators.
_VARIABLE_HINT = re.compile(r";?\s*check [^.;]*\bKSC_[A-Z_]+[^.]*\.?")


def login_refused_text() -> str:
    return _("KSC refused the portal's login; tell the portal administrator (nothing was sent).")


def see_above_text() -> str:
    return _("KSC refused the portal's login (see above).")


def is_login_refused(trouble: Any) -> bool:
    """Whether this error (a KscError or its text, as stored) is KSC refusing the portal's login."""
    if isinstance(trouble, KscAuthError):
        return True
    text = str(trouble or "")
    return any(mark in text for mark in _LOGIN_REFUSED_MARKS)


def for_reader(text: str, user: Any, page: Any = None) -> str:
    """KSC's trouble as ``user`` may read it: administrators the whole text; others its meaning,
    without the KSC settings to check ("check KSC_USER, KSC_PASSWORD ..."). A login refusal is said whole once per ``page``
    (any object the page's rendering shares, its HttpRequest), then pointed to."""
    text = str(text or "")
    if not text or policy.sees_ksc_configuration(user):
        return text
    if is_login_refused(text):
        if page is not None and getattr(page, SAID, False):
            return see_above_text()
        if page is not None:
            setattr(page, SAID, True)
        return login_refused_text()
    if not _VARIABLE_HINT.search(text):
        return text
    text = _VARIABLE_HINT.sub("", text).rstrip()
    return text if text.endswith((".", "!", "?", ")")) else text + "."
