"""Issue 17, point 1: work is never lost, in Chromium, in English and Japanese.

A session that timed out while filing brings the analyst back, after login, to the form as they left it;
switching language mid-form keeps it; without JavaScript a host search keeps the justification; a chosen
IOC archive is never kept in the browser and the form says to attach it again; drafts go at filing and logout.
"""

from __future__ import annotations

import re

import pytest

from responses.models import ResponseRequest
from tests.fixtures.browser import LANGUAGES, set_language

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RESTORED = {
    "en": "What you typed before has been put back. Check it before you preview.",
    "ja": "以前に入力した内容を元に戻しました。プレビューの前に確認してください。",
}
FILE_AGAIN = {
    "en": "The IOC archive you chose is not kept: attach the file again.",
    "ja": "選択した IOC アーカイブは保持されません。ファイルをもう一度添付してください。",
}
JUSTIFICATION = "Beaconing to 203.0.113.7 every 60 s, ticket SOC-4411"


def fill_isolation(page, ksc_settings) -> str:
    """The isolateHost form half done: a host from the search, 'Isolate' ticked, a justification typed."""
    from playwright.sync_api import expect

    page.goto("/requests/new/?task=isolateHost")
    page.fill("#host-q", "TKY-WS-0105")
    page.locator("a.use-host").first.click()
    host_id = ksc_settings.host_id("TKY-WS-0105")
    expect(page.locator("#id_target_host")).to_have_value(host_id)
    page.check("#id_params-action_0")
    page.fill("#id_justification", JUSTIFICATION)
    page.fill("#id_external_ref", "SOC-4411")
    return host_id


def expect_isolation_kept(page, host_id: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#id_target_host")).to_have_value(host_id)
    expect(page.locator("#id_justification")).to_have_value(JUSTIFICATION)
    expect(page.locator("#id_external_ref")).to_have_value("SOC-4411")
    expect(page.locator("#id_params-action_0")).to_be_checked()


def expire_session(page) -> None:
    """What a session timeout leaves: the browser's session cookie no longer opens a session."""
    cookies = [cookie for cookie in page.context.cookies() if cookie["name"] != "sessionid"]
    page.context.clear_cookies()
    page.context.add_cookies(cookies)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_session_that_timed_out_while_filing_comes_back_to_the_form_after_login(
    open_as, alice, ksc_settings, language
):
    from playwright.sync_api import expect

    page = open_as(alice, language=language)
    host_id = fill_isolation(page, ksc_settings)
    expire_session(page)
    page.click("#request-form button[name=step][value=preview]")
    # The POST went to the login page, its body lost; the login's `next` leads back to this task's form.
    page.wait_for_url(re.compile(r"/accounts/login/"))
    expect(page.locator("html")).to_have_attribute("lang", language)
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1234")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/requests/new/\?task=isolateHost"))
    expect_isolation_kept(page, host_id)
    expect(page.locator("#draft-restored")).to_have_text(RESTORED[language])
    expect(page.locator("#chosen-host")).to_contain_text("TKY-WS-0105")

    # Filed: the draft is gone, a new form for the same task starts empty.
    page.click("#request-form button[name=step][value=preview]")
    page.click("#file-request")
    page.wait_for_url(re.compile(r"/requests/[0-9a-f-]{36}/$"))
    assert ResponseRequest.objects.filter(requester=alice, justification=JUSTIFICATION).count() == 1
    page.goto("/requests/new/?task=isolateHost")
    expect(page.locator("#id_justification")).to_have_value("")
    expect(page.locator("#draft-restored")).to_be_hidden()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_session_that_timed_out_on_the_preview_comes_back_to_the_form(open_as, alice, ksc_settings, language):
    from playwright.sync_api import expect

    page = open_as(alice, language=language)
    host_id = fill_isolation(page, ksc_settings)
    page.click("#request-form button[name=step][value=preview]")
    expect(page.locator("#file-request")).to_be_visible()
    expire_session(page)
    page.click("#file-request")
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1234")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/requests/new/\?task=isolateHost"))
    expect_isolation_kept(page, host_id)
    assert not ResponseRequest.objects.filter(requester=alice).exists()


@pytest.mark.parametrize("language", LANGUAGES)
def test_switching_language_mid_form_keeps_what_was_typed(open_as, alice, ksc_settings, language):
    from playwright.sync_api import expect

    page = open_as(alice, language=language)
    host_id = fill_isolation(page, ksc_settings)
    other = "en" if language == "ja" else "ja"
    set_language(page, other)
    expect(page).to_have_url(re.compile(r"/requests/new/\?task=isolateHost"))
    expect_isolation_kept(page, host_id)
    expect(page.locator("#draft-restored")).to_have_text(RESTORED[other])
    # Enter in a field previews, even with a host search typed (Search is the form's first button).
    page.fill("#host-q", "TKY")
    page.press("#id_external_ref", "Enter")
    expect(page.locator("#file-request")).to_be_visible()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_chosen_ioc_archive_is_not_kept_and_the_form_says_to_attach_it_again(
    open_as, alice, ksc_settings, tmp_path, language
):
    from playwright.sync_api import expect

    from tests.support.openioc import ioc_zip_bytes

    page = open_as(alice, language=language)
    page.goto("/requests/new/?task=iocScan")
    expect(page.locator("#file-again")).to_be_hidden()
    page.fill("#id_target_host", ksc_settings.host_id("TKY-WS-0105"))
    archive = tmp_path / "iocs.zip"
    archive.write_bytes(ioc_zip_bytes())
    page.set_input_files("#id_params-ioc", str(archive))
    page.fill("#id_justification", "IOC sweep after phishing wave")
    stored = page.evaluate("JSON.stringify(Object.entries(sessionStorage))")
    assert "PK" not in stored and "iocs.zip" not in stored, stored  # neither the archive nor its name is stored
    other = "en" if language == "ja" else "ja"
    set_language(page, other)
    expect(page.locator("#id_justification")).to_have_value("IOC sweep after phishing wave")
    expect(page.locator("#file-again")).to_have_text(FILE_AGAIN[other])
    assert page.eval_on_selector("#id_params-ioc", "input => input.files.length") == 0


@pytest.mark.parametrize("language", LANGUAGES)
def test_without_javascript_a_host_search_keeps_the_justification_and_params(open_as, alice, ksc_settings, language):
    from playwright.sync_api import expect

    page = open_as(alice, language=language, javascript=False)
    page.goto("/requests/new/?task=isolateHost")
    page.check("#id_params-action_0")
    page.fill("#id_justification", JUSTIFICATION)
    page.fill("#id_external_ref", "SOC-4411")
    page.fill("#host-q", "TKY-WS-0105")
    page.click("#host-q ~ button")
    expect(page.locator("#host-hits")).to_contain_text("TKY-WS-0105")
    expect(page.locator("#id_justification")).to_have_value(JUSTIFICATION)
    expect(page.locator("#id_params-action_0")).to_be_checked()
    expect(page.locator(".error-summary")).to_have_count(0)  # a search is not a failed preview
    page.locator("#host-hits button[name=use_host]").first.click()
    host_id = ksc_settings.host_id("TKY-WS-0105")
    expect_isolation_kept(page, host_id)
    expect(page.locator("#chosen-host")).to_contain_text("TKY-WS-0105")
    # Too short a query says so, and still loses nothing.
    page.fill("#host-q", "T")
    page.click("#host-q ~ button")
    expect(page.locator("#host-results")).to_contain_text(
        {"en": "Type at least 2 characters.", "ja": "2 文字以上入力してください。"}[language]
    )
    expect_isolation_kept(page, host_id)
    # Enter in a field with no search typed previews.
    page.fill("#host-q", "")
    page.press("#id_external_ref", "Enter")
    expect(page.locator("#file-request")).to_be_visible()
    expect(page.locator("main")).to_contain_text(JUSTIFICATION)


def test_drafts_are_per_user_and_task_and_go_at_logout(open_as, alice, ksc_settings):
    from playwright.sync_api import expect

    page = open_as(alice)
    page.evaluate("sessionStorage.setItem('portal-draft:999999:isolateHost', '{\"fields\": {\"justification\": \"x\"}}')")
    fill_isolation(page, ksc_settings)  # another user's draft in this tab is dropped, never shown
    keys = page.evaluate("Object.keys(sessionStorage)")
    assert keys == [f"portal-draft:{alice.pk}:isolateHost"], keys
    page.goto("/requests/new/?task=getFile")  # another task's form does not take this draft
    expect(page.locator("#id_justification")).to_have_value("")
    page.click(".logout button")
    page.wait_for_url(re.compile(r"/accounts/login/"))
    assert page.evaluate("Object.keys(sessionStorage)") == []
