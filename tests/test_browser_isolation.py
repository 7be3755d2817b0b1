"""Isolate until in Chromium at 390 px (issue 28, point 7), in English and Japanese.

An analyst on a phone files an isolation "for 4 hours" (the end is on the preview), an approver
approves it; the request page shows the end and the paired release; at the end (the keeper's duty,
clock injected) the release goes out; "Isolated now" lists the host before and not after. Extend and
Hold are taken on the phone too. No page scrolls sideways.
"""

from __future__ import annotations

import datetime as dt

import pytest

from responses import isolation, workflow
from responses.models import Isolation, IsolationState, ResponseRequest, Status
from tests.fixtures.browser import LANGUAGES, PHONE, assert_fits
from tests.support.isolation import submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

END_WORDS = {"en": "for 4 hours after it takes effect", "ja": "有効になってから 4 時間"}
HELD = {"en": "until released", "ja": "解除されるまで"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_isolation_filed_for_4_hours_on_a_phone_is_released_at_its_end(
    open_as, portal, ksc_settings, settings, alice, bob, carol, language
):
    from playwright.sync_api import expect

    settings.KSC_SUBMIT_HOURLY_CAP = 0
    host = ksc_settings.hosts()[0]
    analyst = open_as(alice, language=language, viewport=PHONE)
    analyst.goto(f"/requests/new/?task=isolateHost&target_host={host['KLHST_WKS_HOSTNAME']}")
    analyst.check("input[name='params-action'][value='1']")
    analyst.select_option("#id_isolation_end", "4")
    analyst.fill("#id_justification", "C2 beacon from this host (ALERT-28)")
    assert_fits(analyst, "the new-request form with the isolation's end")
    analyst.click("button[value=preview]")
    expect(analyst.locator("#preview-isolation-end")).to_contain_text(END_WORDS[language])
    assert_fits(analyst, "the preview")
    analyst.click("#preview-form button[type=submit]")
    expect(analyst.locator("#isolation-end")).to_contain_text(END_WORDS[language])
    request = ResponseRequest.objects.get(task="isolateHost")
    assert request.isolation_end == {"hours": 4}

    workflow.approve(request, user=bob, comment="contain")
    submit(request)
    isolation.run_due_releases()
    row = Isolation.objects.get(request=request)
    assert row.state == IsolationState.ACTIVE

    analyst.goto(f"/requests/{request.uuid}/")
    expect(analyst.locator("#isolation-state")).to_be_visible()
    expect(analyst.locator("#release-now")).to_be_visible()
    expect(analyst.locator("#time-left")).to_be_visible()
    assert_fits(analyst, "the isolation's request page")
    analyst.goto("/isolated/")
    expect(analyst.locator("#isolated-table tbody tr")).to_have_count(1)
    assert_fits(analyst, "Isolated now")

    # An approver on a phone asks for more time; another approves it; the end moves.
    approver = open_as(carol, language=language, viewport=PHONE)
    approver.goto(f"/requests/{request.uuid}/")
    approver.select_option("#extend-by", "4")
    approver.fill("#extend-justification", "Still exfiltrating")
    approver.click("#extend")
    expect(approver.locator("#pending-extension")).to_be_visible()
    assert_fits(approver, "the request page with an extension waiting")
    planned = row.release_at
    checker = open_as(bob, language=language, viewport=PHONE)
    checker.goto(f"/requests/{request.uuid}/")
    checker.click("#approve-extension")
    expect(checker.locator("#pending-extension")).to_have_count(0)
    row.refresh_from_db()
    assert row.release_at == planned + dt.timedelta(hours=4)

    # At the end, with no click, the release goes out once.
    assert isolation.run_due_releases(now=row.release_at + dt.timedelta(seconds=1))["released"] == 1
    release = ResponseRequest.objects.get(pk=row.release_id)
    submit(release)
    assert release.status == Status.SUBMITTED
    isolation.run_due_releases(now=row.release_at + dt.timedelta(seconds=30))
    analyst.goto("/isolated/")
    expect(analyst.locator("#isolated-table tbody tr.isolated-host")).to_have_count(0)


def test_an_approver_holds_an_isolation_on_a_phone(open_as, portal, ksc_settings, settings, alice, bob, carol):
    from playwright.sync_api import expect

    from tests.support.isolation import isolated

    settings.KSC_SUBMIT_HOURLY_CAP = 0
    row = isolated(alice, bob, ksc_settings, isolate_hours=4)
    isolation.run_due_releases()
    approver = open_as(carol, viewport=PHONE)
    approver.goto(f"/requests/{row.request.uuid}/")
    approver.fill("#hold-reason", "Forensics needs the disk untouched")
    approver.click("#hold")
    if "step-up" in approver.url or approver.locator("#id_code").count():
        pytest.fail("the hold asked for a step-up after a fresh login")
    expect(approver.locator("#planned-end")).to_contain_text(HELD["en"])
    assert_fits(approver, "a held isolation")
    row.refresh_from_db()
    assert row.until_released and row.held_by == "carol"
