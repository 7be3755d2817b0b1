"""Issue 30, point 1 in Chromium: the approval card carries every safety fact, risk in words and colour,
a high-risk Approve that asks first (without JavaScript too), Approve and Reject apart on a phone.

English and Japanese, at 1440 px and on a 390 px phone; the KSC simulator's DC01 is in "Domain
Controllers" (CRITICAL_GROUPS here), TKY-WS-0105 in "Tokyo Office".
"""

from __future__ import annotations

import pytest

from responses.models import ResponseRequest, Status
from tests.fixtures.browser import DESKTOP, LANGUAGES, PHONE, assert_fits
from tests.support.filing import file_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORDS = {
    "en": {"high": "High risk", "medium": "Medium risk", "group": "Domain Controllers", "unchecked": "the id is unchecked"},
    "ja": {"high": "リスク高", "medium": "リスク中", "group": "Domain Controllers", "unchecked": "ID は未確認です"},
}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


def _file(user, ksc, name, path, **extra):
    return file_request(
        user=user,
        task="deleteFile",
        target_host=ksc.host_id(name),
        target_host_name=name,
        params={"path": path},
        justification="Dropper found by the SIEM",
        **extra,
    )


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_1_the_card_shows_risk_in_words_and_colour_and_a_high_risk_approve_asks_first(
    open_as, alice, bob, ksc_settings, settings, language, viewport
):
    from playwright.sync_api import expect

    settings.CRITICAL_GROUPS = ["Domain Controllers"]
    high = _file(alice, ksc_settings, "DC01", r"C:\Windows\Temp\a.dll")
    medium = _file(alice, ksc_settings, "TKY-WS-0105", r"C:\Windows\Temp\b.dll")
    unchecked = _file(alice, ksc_settings, "TKY-WS-0111", r"C:\Windows\Temp\c.dll", host_unchecked="timeout")
    words = WORDS[language]
    approver = open_as(bob, language=language, viewport=VIEWPORTS[viewport])
    approver.goto("/approvals/")

    high_card = approver.locator(f"article:has(#q-{high.uuid})")
    medium_card = approver.locator(f"article:has(#q-{medium.uuid})")
    expect(high_card.locator(".badge.risk")).to_have_text(words["high"])
    expect(medium_card.locator(".badge.risk")).to_have_text(words["medium"])
    expect(high_card).to_contain_text(words["group"])
    # Colour as well as words: the two levels do not look alike.
    colours = [
        card.locator(".badge.risk").evaluate("e => getComputedStyle(e).backgroundColor") for card in (high_card, medium_card)
    ]
    assert colours[0] != colours[1]

    # A host id KSC could not check: no one-click Approve, a way to the request page.
    unchecked_card = approver.locator(f"article:has(#q-{unchecked.uuid})")
    expect(unchecked_card).to_contain_text(words["unchecked"])
    expect(unchecked_card.locator("button.primary")).to_have_count(0)
    expect(unchecked_card.locator("a.approve-on-page")).to_have_attribute("href", f"/requests/{unchecked.uuid}/#h-actions")

    # Approve and Reject are never side by side on a phone.
    approve = medium_card.locator("button.primary").bounding_box()
    reject = medium_card.locator("button.danger").bounding_box()
    if viewport == "phone":
        assert reject["y"] >= approve["y"] + approve["height"], (approve, reject)
        assert_fits(approver, "the approval queue")
    else:
        assert approve["x"] + approve["width"] < reject["x"]

    # High risk: Approve without the confirmation does nothing; with it, it approves.
    high_card.locator("button.primary").click()
    expect(high_card.locator("input[name=confirm_high_risk]")).to_be_visible()
    assert ResponseRequest.objects.get(pk=high.pk).status == Status.PENDING_APPROVAL
    high_card.locator("input[name=confirm_high_risk]").check()
    high_card.locator("button.primary").click()
    expect(approver.locator(f"#q-{high.uuid}")).to_have_count(0)
    assert ResponseRequest.objects.get(pk=high.pk).approvals.count() == 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_1_without_javascript_the_server_still_asks_for_the_confirmation(
    open_as, alice, bob, ksc_settings, settings, language
):
    from playwright.sync_api import expect

    settings.CRITICAL_GROUPS = ["Domain Controllers"]
    high = _file(alice, ksc_settings, "DC01", r"C:\Windows\Temp\a.dll")
    approver = open_as(bob, language=language, javascript=False)
    approver.goto("/approvals/")
    card = approver.locator(f"article:has(#q-{high.uuid})")
    # An old page without the check box (as a hand-made form would be): the server refuses, nothing recorded.
    card.locator("input[name=confirm_high_risk]").evaluate("e => e.remove()")
    card.locator("button.primary").click()
    expect(approver.locator(".messages")).to_contain_text({"en": "is high risk", "ja": "リスク高"}[language])
    assert ResponseRequest.objects.get(pk=high.pk).status == Status.PENDING_APPROVAL
    assert not ResponseRequest.objects.get(pk=high.pk).approvals.exists()
