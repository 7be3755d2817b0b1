"""Every URL of the portal, for the tests of the two-factor gate (issue 12, point 1).

``every_path(request, device_pk)`` walks every URL pattern (new pages are covered without
editing a test) and fills each route's arguments with real values; ``OPEN`` are the pages
open, by design, to a session that still owes the second factor.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from django.urls import URLPattern, URLResolver, get_resolver, resolve

from responses.models import ResponseRequest

LOGIN = "/accounts/login/"
VERIFY = "/accounts/verify/"
SETUP = "/account/two-factor/"
HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"
JUNK_TOKEN = "Token junk"
# Open to a session that still owes the second factor, by design: leaving, the language, the step itself.
OPEN = {"/accounts/logout/", "/i18n/setlang/"}


def walk(patterns=None, prefix: str = "") -> Iterator[str]:
    """Every URL pattern of the portal as its route text ("requests/<uuid:key>/", "admin/^(?P<app_label>…)/$")."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def concrete(route: str, samples: dict[str, str]) -> str:
    """A path that the route matches, its arguments filled from ``samples`` by name."""

    def sample(match: re.Match) -> str:
        name = match.group("name")
        assert name in samples, f"no sample value for <{name}> in {route}: add one to this test"
        return samples[name]

    path = route.replace("^", "").replace("$", "")
    path = re.sub(r"\(\?P<(?P<name>\w+)>(?:[^()]|\([^()]*\))*\)", sample, path)
    path = re.sub(r"<(?:\w+:)?(?P<name>\w+)>", sample, path)
    return "/" + path


def every_path(request: ResponseRequest, device_pk: int) -> list[str]:
    samples = {
        "key": str(request.uuid),
        "id": str(request.uuid),
        "object_id": str(request.pk),
        "host_id": request.target_host,
        "server": request.server,
        "pk": str(device_pk),
        "content_type_id": "1",
        "app_label": "otp_totp",
        "url": "no-such-page/",
    }
    paths = []
    for route in walk():
        path = concrete(route, samples)
        resolve(urlsplit(path).path)  # raises if the sample does not fit the route
        paths.append(path)
    return sorted(set(paths))
