"""HTTP hardening: a strict Content-Security-Policy on every page, nothing inline it would block, idle sessions end.

The policy has no 'unsafe-inline': a page with an inline <script>, a <style>
element, a style="" attribute or an on* handler would break under it, so every
page a user can reach is rendered here and searched for them.
"""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from unittest import mock

import pytest
from django.utils import timezone

from accounts.tokens import issue_token
from portal.security import CONTENT_SECURITY_POLICY
from responses import workflow
from tests.support.filing import file_request

HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"


class InlineFinder(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would refuse."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        names = {name for name, _value in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> element")
        if "style" in names:
            self.found.append(f'style="" on <{tag}>')
        self.found.extend(f"{name} handler on <{tag}>" for name in names if name.startswith("on"))
        for name, value in attrs:
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"javascript: URL in {name}")


def inline_code(page: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(page)
    return finder.found


@pytest.fixture
def requests_in_every_state(alice, bob, carol):
    pending = file_request(
        user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="Beaconing"
    )
    failed = file_request(
        user=alice, task="deleteFile", target_host=HOST, params={"path": r"C:\x.exe"}, justification="Dropper"
    )
    workflow.approve(failed, user=carol)
    from responses.models import ResponseRequest, Status

    ResponseRequest.objects.filter(pk=failed.pk).update(status=Status.FAILED, last_error="KSC was down")
    return pending, failed


def pages(pending, failed) -> dict[str, list[str]]:
    """Every page each persona reaches, by persona."""
    common = ["/", "/account/", f"/requests/{pending.uuid}/", f"/requests/{failed.uuid}/"]
    return {
        "alice": [*common, "/requests/new/", "/requests/new/?task=isolateHost", "/requests/mine/", "/hosts/search?q=x"],
        "bob": [*common, "/approvals/", "/requests/", "/api/v1/docs/"],
        "dave": [*common, "/requests/"],
        "root": [
            "/account/",
            "/admin/",
            "/admin/auth/user/",
            "/admin/axes/accessattempt/",
            "/admin/otp_totp/totpdevice/",
        ],
    }


def test_every_page_has_the_policy_and_nothing_inline(client, login, alice, bob, dave, root, requests_in_every_state):
    everyone = {"alice": alice, "bob": bob, "dave": dave, "root": root}
    checked = 0
    for persona, urls in pages(*requests_in_every_state).items():
        login(client, everyone[persona])
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (persona, url, response.status_code)
            assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
            assert inline_code(response.content.decode()) == [], (persona, url)
            checked += 1
    assert checked >= 20


def test_the_login_code_enrolment_and_step_up_pages_have_nothing_inline(client, login, bob, requests_in_every_state):
    pending, _failed = requests_in_every_state
    login_page = client.get("/accounts/login/")
    assert login_page["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert inline_code(login_page.content.decode()) == []

    client.post("/accounts/login/", {"username": "bob", "password": "bob-password-1234"})
    setup = client.get("/account/two-factor/")
    assert "<svg" in setup.content.decode() and inline_code(setup.content.decode()) == []

    login(client, bob)
    session = client.session
    session["portal_authenticated_at"] = 0
    session.save()
    step_up = client.post(f"/requests/{pending.uuid}/approve/", {"comment": "ok"})
    assert step_up.status_code == 403 and inline_code(step_up.content.decode()) == []


def test_the_policy_is_strict():
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


def test_the_api_docs_load_their_start_up_script_from_the_portal(client, login, bob):
    login(client, bob)
    page = client.get("/api/v1/docs/").content.decode()
    assert "/api/v1/docs/?script=" in page
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_api_answers_carry_the_policy_and_frame_denial_too(alice):
    from tests.fixtures.api import client_with_token

    response = client_with_token(issue_token(alice)[1]).get("/api/v1/requests/")
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response["X-Frame-Options"] == "DENY"


def test_pages_deny_framing_and_keep_the_referrer_on_the_site(client):
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_an_idle_session_is_logged_out(client, login, alice, settings):
    login(client, alice)
    assert client.get("/").status_code == 200
    idle = dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    real_now = timezone.now

    def later(delta):
        return mock.patch("django.utils.timezone.now", lambda: real_now() + delta)

    # Activity keeps it alive: each request pushes the end SESSION_COOKIE_AGE further.
    with later(idle - dt.timedelta(seconds=60)):
        assert client.get("/").status_code == 200
    with later(2 * idle - dt.timedelta(seconds=120)):
        assert client.get("/").status_code == 200
    # Idle for longer than SESSION_COOKIE_AGE: logged out.
    with later(3 * idle):
        response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_session_cookies_end_with_the_browser_and_are_not_for_scripts(client, alice, settings):
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE and settings.SESSION_SAVE_EVERY_REQUEST
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1234"})
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["expires"] == "" and cookie["max-age"] == ""  # a browser-session cookie
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
