"""Issue 17, point 1, in Chromium with JavaScript off, in English and Japanese: work is never lost.

A session that ended while the analyst filled the form (deleted on the server, as a timeout leaves it)
does not lose what was typed: the POST leads to the login page, and after logging in the analyst sees
the form as they left it, with a note. Someone else logging in on that browser sees an empty form.
The language switch pressed mid-form keeps the form too. No sessionStorage helps here: no script runs.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session

from responses.models import RequestEvent, ResponseRequest
from tests.fixtures.browser import LANGUAGES, set_language

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

JUSTIFICATION = "Beaconing to 203.0.113.7 every 60 s, ticket SOC-4411"
SESSION_ENDED = {
    "en": "Your session had ended. Here is what you had typed; check it and preview again.",
    "ja": "セッションが終了していました。入力していた内容を表示しています。確認して、もう一度プレビューしてください。",
}
RESTORED = {
    "en": "What you typed before has been put back. Check it before you preview.",
    "ja": "以前に入力した内容を元に戻しました。プレビューの前に確認してください。",
}


def fill_isolation(page, ksc_settings) -> str:
    """The isolateHost form as an analyst fills it without JavaScript: search, Select, isolate, why."""
    from playwright.sync_api import expect

    page.goto("/requests/new/?task=isolateHost")
    page.fill("#host-q", "TKY-WS-0105")
    page.click("#host-q ~ button")
    page.locator("#host-hits button[name=use_host]").first.click()
    host_id = ksc_settings.host_id("TKY-WS-0105")
    expect(page.locator("#id_target_host")).to_have_value(host_id)
    page.check("#id_params-action_0")
    page.fill("#id_justification", JUSTIFICATION)
    page.fill("#id_external_ref", "SOC-4411")
    return host_id


def end_session_on_the_server(page) -> None:
    """The session's row goes, as a timeout leaves it: the browser still sends a cookie that opens nothing."""
    (cookie,) = [c["value"] for c in page.context.cookies() if c["name"] == "sessionid"]
    assert Session.objects.filter(session_key=cookie).delete()[0] == 1


def log_in_again(page, username: str) -> None:
    page.wait_for_url(re.compile(r"/accounts/login/\?next="))
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-password-1234")
    page.click("main button[type=submit]")


def expect_isolation_kept(page, host_id: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#id_target_host")).to_have_value(host_id)
    expect(page.locator("#chosen-host")).to_contain_text("TKY-WS-0105")
    expect(page.locator("#id_params-action_0")).to_be_checked()
    expect(page.locator("#id_justification")).to_have_value(JUSTIFICATION)
    expect(page.locator("#id_external_ref")).to_have_value("SOC-4411")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_form_comes_back_as_left_after_the_session_ended_and_a_login(open_as, alice, ksc_settings, language):
    from playwright.sync_api import expect

    page = open_as(alice, language=language, javascript=False)
    host_id = fill_isolation(page, ksc_settings)
    end_session_on_the_server(page)

    page.click("#request-form button[name=step][value=preview]")
    expect(page.locator("html")).to_have_attribute("lang", language)
    log_in_again(page, "alice")

    page.wait_for_url(re.compile(r"/requests/new/\?task=isolateHost$"))
    expect(page.locator("#session-ended")).to_have_text(SESSION_ENDED[language])
    expect_isolation_kept(page, host_id)
    assert not ResponseRequest.objects.exists() and not RequestEvent.objects.exists()
    # Checked and previewed again, it files as usual.
    page.click("#request-form button[name=step][value=preview]")
    expect(page.locator("#file-request")).to_be_visible()
    page.click("#file-request")
    page.wait_for_url(re.compile(r"/requests/[0-9a-f-]{36}/$"))
    assert ResponseRequest.objects.filter(requester=alice, justification=JUSTIFICATION).count() == 1
    # The draft was used once: the form starts empty now.
    page.goto("/requests/new/?task=isolateHost")
    expect(page.locator("#id_justification")).to_have_value("")
    expect(page.locator("#session-ended")).to_have_count(0)


@pytest.mark.parametrize("language", LANGUAGES)
def test_file_request_pressed_after_the_session_ended_comes_back_to_the_form(open_as, alice, ksc_settings, language):
    from playwright.sync_api import expect

    page = open_as(alice, language=language, javascript=False)
    host_id = fill_isolation(page, ksc_settings)
    page.click("#request-form button[name=step][value=preview]")
    expect(page.locator("#file-request")).to_be_visible()
    end_session_on_the_server(page)

    page.click("#file-request")
    log_in_again(page, "alice")

    page.wait_for_url(re.compile(r"/requests/new/\?task=isolateHost$"))
    expect(page.locator("#session-ended")).to_have_text(SESSION_ENDED[language])
    expect_isolation_kept(page, host_id)
    assert not ResponseRequest.objects.exists()


@pytest.mark.parametrize("language", LANGUAGES)
def test_someone_else_logging_in_on_that_browser_sees_an_empty_form(open_as, alice, frank, ksc_settings, language):
    from playwright.sync_api import expect

    page = open_as(alice, language=language, javascript=False)
    fill_isolation(page, ksc_settings)
    end_session_on_the_server(page)
    page.click("#request-form button[name=step][value=preview]")

    log_in_again(page, "frank")

    page.wait_for_url(re.compile(r"/requests/new/\?task=isolateHost$"))
    expect(page.locator("#id_target_host")).to_have_value("")
    expect(page.locator("#id_justification")).to_have_value("")
    expect(page.locator("#id_params-action_0")).not_to_be_checked()
    expect(page.locator("#session-ended")).to_have_count(0)
    assert JUSTIFICATION not in page.content()
    # Nor does it come back to alice later: it was dropped at frank's login.
    page.click(".logout button")
    page.goto("/accounts/login/?next=/requests/new/%3Ftask%3DisolateHost")
    log_in_again(page, "alice")
    page.wait_for_url(re.compile(r"/requests/new/\?task=isolateHost$"))
    expect(page.locator("#id_justification")).to_have_value("")


@pytest.mark.parametrize("language", LANGUAGES)
def test_switching_language_mid_form_keeps_it(open_as, alice, ksc_settings, language):
    from playwright.sync_api import expect

    page = open_as(alice, language=language, javascript=False)
    host_id = fill_isolation(page, ksc_settings)
    other = "en" if language == "ja" else "ja"

    set_language(page, other)

    expect(page).to_have_url(re.compile(r"/requests/new/\?task=isolateHost$"))
    expect(page.locator("#draft-restored")).to_have_text(RESTORED[other])
    expect(page.locator("#draft-restored")).to_be_visible()
    expect_isolation_kept(page, host_id)
    # Enter in a field still previews (the form's first button is Search, not the switch; nothing to search).
    expect(page.locator("body > button")).to_be_hidden()
    page.fill("#host-q", "")
    page.press("#id_external_ref", "Enter")
    expect(page.locator("#file-request")).to_be_visible()
    # On the preview, the switch keeps it too: back to the form in the first language, as it was.
    set_language(page, language)
    expect(page).to_have_url(re.compile(r"/requests/new/\?task=isolateHost$"))
    expect_isolation_kept(page, host_id)
