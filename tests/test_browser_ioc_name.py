"""Issue 17, point 4, in Chromium, in English and Japanese: the IOC archive is shown once, as name, size and SHA-256.

The analyst uploads a ZIP of OpenIOC files; the preview shows the file's name, its size and its SHA-256
once each, with the raw KSC calls folded away, and never the archive's base64. The request page, once
filed, shows the same.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from responses.models import ResponseRequest
from tests.fixtures.browser import LANGUAGES
from tests.support.openioc import ioc_zip_bytes, openioc

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAME = "campaign-2024-q3 フィッシング.zip"
SIZE = {"en": "({size} bytes)", "ja": "（{size} バイト）"}


def expect_archive_once(page, shown, *, size: str, digest: str, encoded: str) -> None:
    """The archive shown once, as its name, size and SHA-256, and its base64 nowhere on the page."""
    from playwright.sync_api import expect

    expect(shown.locator(".archive-name")).to_have_text(NAME)
    expect(shown).to_contain_text(size)
    expect(shown.locator("code.sha256")).to_have_text(f"SHA-256 {digest}")
    main = page.locator("main").inner_text()
    assert main.count(NAME) == 1 and main.count(digest) == 1, main
    assert encoded not in page.content()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_archive_is_shown_once_as_name_size_and_digest_on_the_preview_and_the_request_page(
    open_as, alice, ksc_settings, tmp_path, language
):
    from playwright.sync_api import expect

    # Several IOC files, so that the base64 would be long and plain to see if it leaked.
    archive = ioc_zip_bytes(
        {f"rule-{n}.ioc": openioc(ioc_id=f"6d2a1b2c-0000-4000-8000-{n:012d}") for n in range(1, 6)}
    )
    digest = hashlib.sha256(archive).hexdigest()
    encoded = base64.b64encode(archive).decode()
    path = tmp_path / NAME
    path.write_bytes(archive)

    page = open_as(alice, language=language)
    page.goto("/requests/new/?task=iocScan")
    page.fill("#id_target_host", ksc_settings.host_id("TKY-WS-0105"))
    page.set_input_files("#id_params-ioc", str(path))
    page.check("#id_params-scanCriticalAreas")
    page.fill("#id_justification", "IOC sweep after the phishing wave")
    page.click("#request-form button[name=step][value=preview]")

    expect(page.locator("dd.ioc-archive")).to_have_count(1)
    expect_archive_once(page, page.locator("dd.ioc-archive"), size=SIZE[language].format(size=len(archive)), digest=digest, encoded=encoded)
    # The raw calls are folded away; opened, they hold a placeholder, never the base64, and no file name.
    expect(page.locator("#raw-calls")).not_to_have_attribute("open", "")
    page.click("#raw-calls summary")
    expect(page.locator("#add-incident")).to_be_visible()
    assert NAME not in page.locator("#add-incident").inner_text()
    assert encoded not in page.content()

    page.click("#file-request")
    page.wait_for_url(re.compile(r"/requests/[0-9a-f-]{36}/$"))
    filed = ResponseRequest.objects.get(requester=alice)
    assert filed.archive_names == {"ioc": NAME}
    expect_archive_once(page, page.locator("td.ioc-archive"), size=SIZE[language].format(size=len(archive)), digest=digest, encoded=encoded)
