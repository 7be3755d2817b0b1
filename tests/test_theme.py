"""The header's theme switch and the login page's session-ended note (accounts/theme.py), without a browser."""

from __future__ import annotations


def test_the_switch_keeps_a_theme_and_refuses_one_it_does_not_know(client, login, alice):
    login(client, alice)
    response = client.post("/theme/", {"theme": "dark", "next": "/requests/mine/"})
    assert response.status_code == 302 and response["Location"] == "/requests/mine/"
    assert response.cookies["portal_theme"].value == "dark"
    assert 'data-theme="dark"' in client.get("/requests/mine/").content.decode()

    bad = client.post("/theme/", {"theme": "neon", "next": "/"})
    assert bad.status_code == 400 and b"Unknown theme" in bad.content
    assert "portal_theme" not in bad.cookies  # nothing changed
    away = client.post("/theme/", {"theme": "light", "next": "https://evil.example/"})
    assert away["Location"] == "/"  # never off the portal

    back = client.post("/theme/", {"theme": "system", "next": "/"})
    assert back.cookies["portal_theme"].value == ""  # deleted: the system decides again


def test_the_switch_needs_a_post_with_its_csrf_token(client, alice):
    from django.test import Client

    assert client.get("/theme/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/theme/", {"theme": "dark"}).status_code == 403


def test_the_login_page_says_a_session_ended_only_to_a_browser_that_had_one(client, login, alice):
    fresh = client.get("/requests/mine/", follow=True).content.decode()
    assert 'id="session-ended"' not in fresh  # a stranger is not told about a session they never had

    login(client, alice)
    client.get("/requests/mine/")  # the note's cookie is set on a signed-in page
    assert client.cookies["portal_had_session"].value == "1"
    from django.contrib.sessions.models import Session

    Session.objects.all().delete()  # as a timeout leaves it (client.logout() would clear the cookies too)
    again = client.get("/requests/mine/", follow=True).content.decode()
    assert 'id="session-ended"' in again and "Your session has ended" in again
