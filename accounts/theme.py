"""Two small things a browser remembers for its user (issue 30, point 9): the colour theme, and that it had a session.

- The theme: light, dark, or (no cookie) whatever the system asks for through
  ``prefers-color-scheme``. The header's switch posts here; the choice is a cookie that
  base.html reads into ``<html data-theme>``, so the page is drawn in it from the first paint,
  without JavaScript.
- ``SessionEndedNote``: a cookie saying this browser had a signed-in session, so that when a
  page sends it to the login page again, the login page can say the session ended instead of
  greeting it like a stranger. It holds no identity (only "1") and is not a credential.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

THEME_COOKIE = "portal_theme"
THEMES = ("light", "dark", "system")
SESSION_COOKIE = "portal_had_session"
YEAR = 365 * 24 * 3600


@require_POST
def set_theme(request: HttpRequest) -> HttpResponse:
    """Keep the chosen theme in a cookie and go back to the page the switch was on."""
    theme = request.POST.get("theme", "")
    if theme not in THEMES:
        return HttpResponseBadRequest(_("Unknown theme: choose light, dark or system."), content_type="text/plain")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = "/"
    response = redirect(target)
    if theme == "system":
        response.delete_cookie(THEME_COOKIE, samesite="Lax")
    else:
        response.set_cookie(THEME_COOKIE, theme, max_age=YEAR, samesite="Lax", secure=request.is_secure(), httponly=True)
    return response


class SessionEndedNote:
    """Remember, in a cookie without identity, that this browser had a signed-in session."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and request.COOKIES.get(SESSION_COOKIE) != "1":
            response.set_cookie(
                SESSION_COOKIE, "1", max_age=30 * 24 * 3600, samesite="Lax", secure=request.is_secure(), httponly=True
            )
        return response
