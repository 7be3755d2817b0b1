"""Issue 17, point 1, the last step: a user not sure whether the request was filed can see it.

The preview's File button sent twice (the page came back after a timeout, a second click, a resend)
files one request, and the second send lands on that request with a message saying it already was.
In Chromium, in English and Japanese, with and without JavaScript.
"""

from __future__ import annotations

import re

import pytest

from responses.models import ResponseRequest
from tests.fixtures.browser import LANGUAGES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ALREADY = {
    "en": "Already filed: Network isolation on TKY-WS-0105. This is that request; it was not filed twice.",
    "ja": "申請済みです：",
}
JUSTIFICATION = "Lateral movement from this host, ticket SOC-5120"


def preview_isolation(page, host_id: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"/requests/new/?task=isolateHost&target_host={host_id}")
    page.check("#id_params-action_0")
    page.fill("#id_justification", JUSTIFICATION)
    page.click("#request-form button[name=step][value=preview]")
    expect(page.locator("#file-request")).to_be_visible()


def send_the_preview_again(page, fields: dict[str, str]) -> None:
    """What a resend does: the preview's form, with its sealed content and CSRF token, posted once more."""
    page.evaluate(
        """(fields) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = '/requests/new/';
            for (const [name, value] of Object.entries(fields)) {
                const input = document.createElement('input');
                input.type = 'hidden'; input.name = name; input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }""",
        fields,
    )


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_preview_sent_twice_files_once_and_shows_the_request_that_exists(
    open_as, alice, ksc_settings, language, javascript
):
    from playwright.sync_api import expect

    host_id = ksc_settings.host_id("TKY-WS-0105")
    page = open_as(alice, language=language)  # signs in with JavaScript; a second page may go without
    if not javascript:
        page = open_as(alice, language=language, javascript=False)
    preview_isolation(page, host_id)
    form = page.locator("#file-request").locator("xpath=ancestor::form")
    fields = {name: form.locator(f"input[name={name}]").get_attribute("value") for name in ("csrfmiddlewaretoken", "sealed")}
    fields["step"] = page.locator("#file-request").get_attribute("value")
    assert fields["step"] == "file" and fields["sealed"], fields
    page.click("#file-request")
    page.wait_for_url(re.compile(r"/requests/[0-9a-f-]{36}/$"))
    first_url = page.url
    filed = ResponseRequest.objects.get(requester=alice, justification=JUSTIFICATION)

    if javascript:
        send_the_preview_again(page, fields)
    else:
        # Without JavaScript: the preview page, as the browser kept it, is shown and its File button clicked.
        page.go_back()
        expect(page.locator("#file-request")).to_be_visible()
        page.click("#file-request")
    page.wait_for_url(re.compile(r"/requests/[0-9a-f-]{36}/$"))
    assert page.url == first_url  # the request that exists, not a new one
    assert ResponseRequest.objects.filter(requester=alice, justification=JUSTIFICATION).count() == 1
    message = page.locator(".messages").first
    expect(message).to_contain_text(ALREADY[language])
    expect(message).to_contain_text("TKY-WS-0105")
    assert filed.uuid.hex in page.url.replace("-", "")
