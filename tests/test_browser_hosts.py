"""Work that starts from the host, in Chromium (issue 30, point 2): English and Japanese, desktop and 390 px.

The analyst opens Hosts from the menu, searches, reads the badges, opens an isolated host, follows
"Release isolation" to a prefilled release; once a release completed, the host page says when and by
whom, and the isolation's page links forward to it without offering another release.
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from responses.models import OutcomeState, ResponseOutcome, Status
from tests.fixtures.browser import DESKTOP, LANGUAGES, PHONE, assert_fits
from tests.support.pages import file, set_status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
BADGES = {
    "en": {"isolated": "isolated by the portal", "released": "released", "unknown": "unknown"},
    "ja": {"isolated": "ポータルが分離", "released": "解除済み", "unknown": "不明"},
}


def submitted(user, host_id: str, name: str, action: int, state: str):
    rr = file(user, target_host=host_id, target_host_name=name, params={"action": action})
    rr = set_status(rr, Status.SUBMITTED, ksc_incident_id=rr.pk + 4000, submitted_at=timezone.now())
    ResponseOutcome.objects.create(request=rr, state=state, ksc_task_id=str(rr.pk + 7000))
    return rr


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_from_the_host_list_to_a_release(open_as, axe_check, portal, ksc_settings, alice, language, viewport):
    simulator = ksc_settings
    isolated_id, released_id, quiet_id = (simulator.host_id(name) for name in ("DC01", "TKY-WS-0105", "TKY-WS-0110"))
    submitted(alice, isolated_id, "DC01", 1, OutcomeState.COMPLETED)
    isolation = submitted(alice, released_id, "TKY-WS-0105", 1, OutcomeState.COMPLETED)
    release = submitted(alice, released_id, "TKY-WS-0105", 0, OutcomeState.COMPLETED)
    file(alice, target_host=quiet_id, target_host_name="TKY-WS-0110")
    badges = BADGES[language]

    page = open_as(alice, language=language, viewport=VIEWPORTS[viewport])
    page.click("nav a[href='/hosts/']")
    page.wait_for_url(re.compile(r"/hosts/$"))
    assert page.locator("tr.host-row").count() == 3
    for host_id, state in ((isolated_id, "isolated"), (released_id, "released"), (quiet_id, "unknown")):
        badge = page.locator(f"tr[data-host-id='{host_id}'] [data-host-state]")
        assert badge.get_attribute("data-host-state") == state
        assert badge.inner_text().strip() == badges[state]
    assert page.locator(f"tr[data-host-id='{quiet_id}'] td.open-requests").inner_text().strip() == "1"
    if viewport == "phone":
        assert_fits(page, "the host list")
    axe_check(page, f"the host list ({language}, {viewport})")

    page.fill("#host-list-q", "tky-ws-01")
    page.press("#host-list-q", "Enter")
    page.wait_for_url(re.compile(r"/hosts/\?q=tky-ws-01"))
    assert sorted(page.locator("tr.host-row").evaluate_all("rows => rows.map(r => r.dataset.hostId)")) == sorted(
        [released_id, quiet_id]
    )

    # The isolated host: its badge, a new response for it, and its release prefilled.
    page.goto(f"/hosts/primary/{isolated_id}/")
    assert page.locator("#host-state [data-host-state]").get_attribute("data-host-state") == "isolated"
    assert page.locator("#host-new-response").is_visible()
    if viewport == "phone":
        assert_fits(page, "an isolated host's page")
    axe_check(page, f"an isolated host's page ({language}, {viewport})")
    page.click("#host-release")
    page.wait_for_url(re.compile(r"/requests/new/\?"))
    assert page.locator("input[name='params-action'][value='0']").is_checked(), "the release (action 0) is chosen"
    assert page.locator("input[name=target_host]").input_value() == isolated_id

    # The released host: when and by whom, and no release offered.
    page.goto(f"/hosts/primary/{released_id}/")
    note = page.locator("#host-released").inner_text()
    when = timezone.localtime(release.outcome.since).strftime("%Y-%m-%d %H:%M")
    assert when in note and "alice" in note
    assert page.locator("#host-release").count() == 0
    page.goto(f"/requests/{isolation.uuid}/")
    assert page.locator("#release-link").get_attribute("href") == f"/requests/{release.uuid}/"
    assert page.locator("#release-isolation").count() == 0
    if viewport == "phone":
        assert_fits(page, "an isolation's page with its release")
    axe_check(page, f"an isolation's page with its release ({language}, {viewport})")
