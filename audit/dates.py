"""Dates typed into the auditors' filters and the export's (issue 30, point 5): what their help says they take.

``moment(text, end=...)`` reads a date (2026-11-27) or a date and time (2026-11-27T08:00, with
seconds and an offset or Z if wanted); a date or time without an offset is in the portal's time
zone. A date alone as the end of a range (``end=True``) means the whole day: the moment returned is
the next day's start, to be compared with "before". Anything else raises ``BadDate`` with the words
a page shows.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _


class BadDate(ValueError):
    """The text is no date the help names; ``str()`` says so."""


def help_text() -> str:
    return _("A date (2026-11-27) or a date and time (2026-11-27T08:00 or 2026-11-27T08:00:00Z).")


def moment(text: str, *, end: bool = False) -> dt.datetime:
    """The moment ``text`` names (see the module's text); BadDate when it names none."""
    text = text.strip()
    try:
        when = parse_datetime(text.replace(" ", "T", 1)) if "T" in text or " " in text else None
        day = None if when is not None else parse_date(text)
    except ValueError:  # well formed, but no such day or time (2026-02-30, 25:00)
        when = day = None
    if when is None and day is None:
        raise BadDate(
            _("“%(text)s” must be a date such as 2026-11-27 or a date and time such as 2026-11-27T08:00.")
            % {"text": text[:40]}
        )
    if day is not None:
        if end:
            day += dt.timedelta(days=1)
        when = dt.datetime.combine(day, dt.time())
    if timezone.is_naive(when):
        when = timezone.make_aware(when)
    return when
