"""HTTP hardening that Django 5.2 lacks: a strict Content-Security-Policy on every response.

The portal's pages load scripts and styles from their own origin only: no inline
<script>, no style="" attributes, no on* handlers (static/portal.js and
static/portal.css hold them). A policy without 'unsafe-inline' turns an HTML
injection into an inert string instead of a script that could approve requests
with the approver's session.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # data: for images only: the 2FA QR code is inline SVG, Swagger UI's icons are data: URIs.
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        # Nobody frames the portal (clickjacking on the Approve button); X-Frame-Options says it too.
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Adds CONTENT_SECURITY_POLICY to every response that does not set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
