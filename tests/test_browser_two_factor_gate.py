"""The two-factor gate in a real browser (issue 12, point 1): the password alone opens no page.

For each role, Chromium logs in with the password only, with and without an
``Authorization: Token junk`` header on every request (Playwright's extra_http_headers,
as an attacker's proxy or extension would add it), then opens every page of the
portal, the admin and its TOTP devices: each must end at the code page (or, for an
approver who never enrolled, at enrolment), never at the content.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import twofactor
from tests.fixtures.accounts import enrol_totp
from tests.fixtures.browser import TIMEOUT_MS
from tests.support.filing import file_request
from tests.support.gate import HOST, JUNK_TOKEN, OPEN, SETUP, VERIFY, every_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADMIN_PAGES_TOO = ("/admin/", "/admin/otp_totp/totpdevice/", "/admin/auth/user/")


def pages(device: TOTPDevice) -> list[str]:
    """Every page of the portal (the URL walk, minus the token-only API), the admin's front and its 2FA devices."""
    pending = file_request(
        user=User.objects.get(username="alice"),
        task="isolateHost",
        target_host=HOST,
        params={"action": 1},
        justification="Beaconing",
    )
    portal_pages = [
        path
        for path in every_path(pending, device.pk)
        if not path.startswith("/admin/") and not twofactor.ignores_the_session(urlsplit(path).path)
    ]
    return sorted(set(portal_pages) - OPEN) + [*ADMIN_PAGES_TOO, f"/admin/otp_totp/totpdevice/{device.pk}/change/"]


def walk_with_the_password_only(browser, portal, username, step_page, device: TOTPDevice, paths, header) -> list[str]:
    """A fresh context (``header`` on each of its requests, if any) logs in with the password, then opens ``paths``."""
    from playwright.sync_api import Error as PlaywrightError

    context = browser.new_context(
        base_url=portal.url, locale="en-US", extra_http_headers={"Authorization": header} if header else {}
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", f"{username}-password-1234")
        page.click("main button[type=submit]")
        page.wait_for_load_state()

        reached = []
        for path in paths:
            try:
                page.goto(path)
            except PlaywrightError as error:  # e.g. a 405 with no body: the view itself answered
                reached.append(f"{path} -> {error.message.splitlines()[0]}")
                continue
            landed = urlsplit(page.url)
            if landed.path != step_page or page.locator("#id_code").count() != 1:
                reached.append(f"{path} -> {landed.path}")
            elif device.key in page.content():  # bob's TOTP secret, as the admin's device page shows it
                reached.append(f"{path} -> bob's TOTP secret")
        return reached
    finally:
        context.close()


@pytest.mark.parametrize(
    ("persona", "username", "enrolled"),
    [
        ("analyst", "alice", True),
        ("approver", "bob", True),
        ("approver who never enrolled", "carol", False),
        ("auditor", "dave", True),
        ("superuser", "root", True),
    ],
)
def test_a_password_only_session_reaches_no_page(browser, portal, alice, bob, carol, dave, root, persona, username, enrolled):
    # Without and with the junk header, each in a context and a login of its own; one test per
    # persona, so that the users, the request and the database's flush are made once for both walks.
    device = enrol_totp(bob)
    user = User.objects.get(username=username)
    if enrolled:
        enrol_totp(user)  # the analyst and the auditor chose to; approvers and superusers must
    step_page = VERIFY if enrolled else SETUP
    paths = pages(device)
    reached = {
        header or "no header": walk_with_the_password_only(browser, portal, username, step_page, device, paths, header)
        for header in (None, JUNK_TOKEN)
    }
    assert reached == {"no header": [], JUNK_TOKEN: []}, f"{persona} with the password only reached: {reached}"
