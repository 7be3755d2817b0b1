"""Results and the auditors' pages in Chromium (issue 30, points 3 and 5): English and Japanese, desktop and 390 px.

A finished iocScan's page says what KSC says and does not say; a page that refreshes itself can be
stopped; the audit chain page's export form limits the JSON lines by date and request, and refuses a
bad date clearly; the account changes read as ISO dates and words, and a bad date is said beside its
field. axe-core checks each page.
"""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone

from responses.models import OutcomeState, ResponseOutcome, Status
from responses.views import requests as request_views
from tests.fixtures.browser import DESKTOP, LANGUAGES, PHONE, assert_fits
from tests.support.filing import file_request
from tests.support.openioc import ioc_zip_b64
from tests.support.pages import file, set_status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
WORDS = {
    "en": {"found": "KSC does not say", "isolated": "No: the scan was not set to isolate the host."},
    "ja": {"found": "KSC は示していません", "isolated": "いいえ。このスキャンはホストを分離する設定ではありません。"},
}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_finished_ioc_scan_says_what_ksc_says(open_as, axe_check, portal, ksc_settings, alice, language, viewport):
    rr = file_request(
        user=alice,
        task="iocScan",
        target_host=ksc_settings.host_id("TKY-WS-0105"),
        params={"ioc": ioc_zip_b64(), "isolateHost": False, "scanCriticalAreas": True, "quarantineObject": False},
        justification="IOC sweep",
    )
    rr = set_status(rr, Status.SUBMITTED, ksc_incident_id=4242, submitted_at=timezone.now())
    ResponseOutcome.objects.create(request=rr, state=OutcomeState.COMPLETED, ksc_task_id="1001")
    page = open_as(alice, language=language, viewport=VIEWPORTS[viewport])
    page.goto(f"/requests/{rr.uuid}/")
    results = page.locator("#outcome dd.result-line").all_inner_texts()
    assert len(results) == 2
    assert WORDS[language]["found"] in results[0] and results[1] == WORDS[language]["isolated"]
    if viewport == "phone":
        assert_fits(page, "a finished iocScan")
    axe_check(page, f"a finished iocScan ({language}, {viewport})")


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_page_that_refreshes_itself_can_be_stopped(open_as, axe_check, portal, alice, language, monkeypatch):
    monkeypatch.setattr(request_views, "REFRESH_SECONDS", 3)
    rr = set_status(file(alice, target_host="h-queued"), Status.QUEUED)
    page = open_as(alice, language=language, viewport=PHONE)
    page.goto(f"/requests/{rr.uuid}/")
    page.evaluate("window.portalMark = 1")
    page.wait_for_event("load", timeout=10_000)  # it reloaded itself
    page.click("#refresh-stop")  # within the next 3 seconds
    assert page.evaluate("window.portalMark") is None, "a reloaded page"
    page.evaluate("window.portalMark = 2")
    page.wait_for_timeout(4500)
    assert page.evaluate("window.portalMark") == 2, "stopped: no reload"
    assert page.locator("#refresh-stop").is_disabled()
    axe_check(page, f"a page that refreshes itself, stopped ({language})")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_auditors_export_and_account_changes(open_as, axe_check, portal, alice, dave, language, viewport):
    first = file(alice, target_host="h-1")
    file(alice, target_host="h-2")
    alice.is_staff = True
    alice.save()
    page = open_as(dave, language=language, viewport=VIEWPORTS[viewport])
    today = timezone.localdate().isoformat()

    page.goto("/audit/chain/")
    axe_check(page, f"the audit chain page ({language}, {viewport})")
    page.fill("#export-since", today)
    page.fill("#export-until", today)
    page.fill("#export-request", str(first.uuid))
    with page.expect_download() as download:
        page.click("#audit-export-form button[type=submit]")
    lines = [json.loads(text) for text in open(download.value.path(), encoding="utf-8").read().splitlines()]
    assert lines and {line["chain"] for line in lines} == {str(first.uuid)}

    response = page.request.get("/audit/export.jsonl?since=yesterday")
    assert response.status == 400 and "2026-11-27" in response.text()

    page.goto("/audit/accounts/?user=alice")
    row = page.locator("table.requests tbody tr").first
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", row.locator("time").inner_text())
    detail = row.locator("td.account-detail").inner_text()
    assert ("staff (the admin): No → Yes" if language == "en" else "スタッフ（管理画面）：いいえ → はい") in detail
    if viewport == "phone":
        assert_fits(page, "account changes")
    axe_check(page, f"account changes ({language}, {viewport})")
    page.fill("#id_since", "27/11/2026")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#id_since-error")
    assert page.locator("#id_since").get_attribute("aria-invalid") == "true"
    assert page.locator("td.account-detail").count() == 0
    axe_check(page, f"account changes with a bad date ({language}, {viewport})")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_lists_date_filters_take_a_date_and_time_as_their_help_says(open_as, portal, alice, dave, language, viewport):
    rr = file(alice, target_host="h-1")
    page = open_as(dave, language=language, viewport=VIEWPORTS[viewport])
    page.goto("/requests/")
    if not page.locator("#filters-fold").evaluate("fold => fold.open"):
        page.click("#filters-fold summary")
    assert page.locator("#id_since").get_attribute("type") == "text", "a date picker refuses a date and time"
    page.fill("#id_since", timezone.localtime(rr.created_at).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_until", timezone.localdate().isoformat())
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"since="))
    assert page.locator(f"a[href='/requests/{rr.uuid}/']").count() >= 1
    assert page.locator(".errorlist").count() == 0
    if not page.locator("#filters-fold").evaluate("fold => fold.open"):
        page.click("#filters-fold summary")
    page.fill("#id_since", "27/11/2026")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector(".errorlist")
    assert page.locator(f"a[href='/requests/{rr.uuid}/']").count() == 0, "a wrong date lists nothing"

