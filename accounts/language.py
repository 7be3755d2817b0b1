"""The language switch (``/i18n/setlang/``): Django's ``set_language``, and a signal for the apps that
keep something with the choice.

The accounts stand below the notifications and the requests (docs/architecture.md, "The apps'
order"), so the switch names neither: each receives ``language_chosen`` when it is ready. The
notifications keep the choice for the user's messages (notifications/signals.py); the requests keep
the new-request form the switch posted and point the answer back at it (responses/drafts.py).
"""

from __future__ import annotations

from django.conf import settings
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse
from django.views import i18n
from django.views.decorators.http import require_POST

# Sent after Django's switch answered, with ``request``, ``response`` (a receiver may change its
# Location) and ``language`` (one of settings.LANGUAGES). Not sent for a language the portal lacks.
language_chosen = Signal()


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's language switch, then ``language_chosen`` for the apps that keep the choice."""
    response = i18n.set_language(request)
    language = request.POST.get("language", "")
    if language in dict(settings.LANGUAGES):
        language_chosen.send(sender=set_language, request=request, response=response, language=language)
    return response
