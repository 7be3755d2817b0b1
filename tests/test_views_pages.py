"""The start page, the menu each role gets, and the site-wide warnings."""

from __future__ import annotations

import pytest

from tests.fixtures.accounts import sign_in
from tests.support.filing import file_request

SIMULATED = "SIMULATED KSC: nothing reaches real endpoints."
UNVERIFIED = "KSC's TLS certificate is not verified"


def page(client, user, url: str = "/") -> str:
    sign_in(client, user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_an_analyst_starts_from_a_new_response_and_their_recent_requests(client, alice):
    file_request(
        user=alice, task="isolateHost", target_host="h-1", target_host_name="TKY-WS-0101", params={"action": 1},
        justification="why",
    )  # fmt: skip

    html = page(client, alice)

    assert 'href="/requests/new/"' in html and 'href="/requests/mine/"' in html
    assert "Network isolation — TKY-WS-0101" in html
    assert 'href="/approvals/"' not in html and 'href="/requests/"' not in html


def test_an_approver_sees_how_many_requests_wait(client, alice, bob):
    for _ in range(2):
        file_request(user=alice, task="isolateHost", target_host="h", params={"action": 1}, justification="x")

    html = page(client, bob)

    assert "2 requests wait for approval." in html
    assert 'href="/approvals/"' in html and 'href="/requests/"' in html
    assert 'href="/requests/new/"' not in html  # approvers do not file


def test_an_auditor_is_pointed_at_all_requests(client, dave):
    html = page(client, dave)

    assert "All requests, with filters and CSV export" in html
    assert 'href="/requests/new/"' not in html


def test_someone_without_a_role_is_told_to_ask_for_one(client, mallory):
    html = page(client, mallory)

    assert "Your account has no role in the portal yet." in html
    assert 'href="/requests/new/"' not in html and 'href="/approvals/"' not in html


@pytest.mark.parametrize("username", ["alice", "bob", "dave", "mallory"])
def test_everyone_sees_the_simulated_ksc_banner(client, settings, alice, bob, dave, mallory, username):
    settings.KSC_SIMULATED = True
    user = {"alice": alice, "bob": bob, "dave": dave, "mallory": mallory}[username]

    assert SIMULATED in page(client, user)


def test_no_simulated_ksc_banner_against_a_real_ksc(client, settings, alice):
    settings.KSC_SIMULATED = False

    assert SIMULATED not in page(client, alice)


@pytest.mark.parametrize(("username", "shown"), [("bob", True), ("root", True), ("alice", False), ("dave", False)])
def test_approvers_and_superusers_are_warned_when_ksc_tls_is_unverified(
    client, settings, alice, bob, dave, root, username, shown
):
    settings.KSC_VERIFY = False
    user = {"alice": alice, "bob": bob, "dave": dave, "root": root}[username]

    assert (UNVERIFIED in page(client, user)) is shown


def test_no_tls_warning_when_ksc_is_verified(client, settings, bob):
    settings.KSC_VERIFY = True

    assert UNVERIFIED not in page(client, bob)


def test_the_pages_carry_no_inline_script(client, alice):
    """A Content-Security-Policy without 'unsafe-inline' must not break any page."""
    rr = file_request(user=alice, task="isolateHost", target_host="h", params={"action": 1}, justification="x")
    for url in ("/", "/requests/new/", "/requests/new/?task=onDemandScan", "/requests/mine/", f"/requests/{rr.uuid}/"):
        html = page(client, alice, url)
        own = html.replace('<script src="/static/portal.js" defer>', "").replace(
            '<script src="/static/notifications.js" defer>', ""
        )
        assert "<script>" not in html and "<script " not in own
        assert " onclick=" not in html and " onchange=" not in html and " onsubmit=" not in html
        assert " style=" not in html
