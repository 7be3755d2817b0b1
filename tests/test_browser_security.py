"""The Content-Security-Policy in a real browser: pages work under it and it refuses nothing of ours.

Chromium reports every refusal on the console ("Refused to execute inline script...");
these tests go through the pages with scripts of their own (the new-request form's
type-ahead, the API docs' Swagger UI, the admin) and expect none. Also a whole
two-factor enrolment as a person does it: scan (here: read) the key, type the code.
"""

from __future__ import annotations

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.fixtures.accounts import totp_code
from tests.fixtures.browser import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def watch_console(page) -> list[str]:
    refusals: list[str] = []
    page.on(
        "console", lambda message: refusals.append(message.text) if "Content Security Policy" in message.text else None
    )
    return refusals


def test_swagger_ui_and_the_admin_run_under_the_policy(log_in, root, bob):
    from playwright.sync_api import expect

    approver = log_in(bob)
    refusals = watch_console(approver)
    approver.goto("/api/v1/docs/")
    expect(approver.locator(".swagger-ui .info .title")).to_contain_text("EDR response portal API")
    expect(approver.locator(".opblock").first).to_be_visible()
    approver.goto("/approvals/")
    assert refusals == []

    admin = log_in(root)
    refusals = watch_console(admin)
    admin.goto("/admin/auth/user/")
    admin.click("text=bob")
    expect(admin.locator("#id_username")).to_have_value("bob")
    assert refusals == []


def test_an_approver_sets_up_two_factor_authentication_in_the_browser(browser, portal, carol):
    from playwright.sync_api import expect

    context = browser.new_context(base_url=portal.url, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        refusals = watch_console(page)
        page.goto("/accounts/login/")
        page.fill("#id_username", "carol")
        page.fill("#id_password", "carol-password-1234")
        page.click("main button[type=submit]")
        # No authenticator yet: enrolment, and nothing else.
        page.wait_for_url(re.compile(r"/account/two-factor/"))
        expect(page.locator(".qr svg")).to_be_visible()
        page.goto("/approvals/")
        page.wait_for_url(re.compile(r"/account/two-factor/"))

        device = TOTPDevice.objects.get(user=carol, confirmed=False)
        shown = page.locator("#totp-secret").inner_text().replace(" ", "")
        assert shown and device.config_url.find(f"secret={shown}") > 0
        page.fill("#id_code", totp_code(device))
        page.click("main button[type=submit]")
        expect(page.locator("#recovery-codes li")).to_have_count(10)
        page.click("text=I have stored them; continue")
        page.goto("/approvals/")
        expect(page.locator("h1")).to_contain_text("Approval queue")
        assert refusals == []
    finally:
        context.close()
