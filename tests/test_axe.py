"""axe-core over the story's pages (issue 30): no violation, in English and Japanese, on a desktop and at 390 px.

The pages a walk-through opens: the request lists, the new request and its preview, a request's
page, the approval queue, the host list and a host's page, Isolated now, a campaign's page, the
auditors' pages and the login page. axe-core is the npm registry's package, pinned
(tests/support/axe.py); the ``axe_check`` fixture runs it in the page (tests/fixtures/axe.py).
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from campaigns import filing as campaign_filing
from responses.models import OutcomeState, ResponseOutcome, Status
from tests.fixtures.browser import DESKTOP, LANGUAGES, PHONE
from tests.support.pages import file, set_status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture
def story(portal, ksc_settings, alice, bob):
    """A pending request, an isolation the endpoint completed, and a campaign waiting for approval."""
    simulator = ksc_settings
    isolated_host = simulator.host_id("TKY-WS-0105")
    waiting = file(alice, target_host=simulator.host_id("TKY-WS-0102"), justification="Beaconing, ticket SOC-4411")
    isolated = file(alice, target_host=isolated_host, target_host_name="TKY-WS-0105")
    isolated = set_status(isolated, Status.SUBMITTED, ksc_incident_id=4242, submitted_at=timezone.now())
    ResponseOutcome.objects.create(request=isolated, state=OutcomeState.COMPLETED, ksc_task_id="1001")
    campaign = campaign_filing.file_campaign(
        alice,
        task="isolateHost",
        params={"action": 1},
        hosts="TKY-WS-0110\nTKY-WS-0111",
        justification="Emotet outbreak (INC-7)",
    )
    return {"waiting": waiting, "isolated": isolated, "host": isolated_host, "campaign": campaign}


def pages(page, axe_check, paths: list[str], label: str) -> None:
    for path in paths:
        page.goto(path)
        axe_check(page, f"{path} ({label})")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_analysts_pages(open_as, axe_check, story, alice, language, viewport):
    page = open_as(alice, language=language, viewport=VIEWPORTS[viewport])
    label = f"alice, {language}, {viewport}"
    pages(
        page,
        axe_check,
        [
            "/",
            "/requests/mine/",
            "/requests/new/",
            f"/requests/{story['waiting'].uuid}/",
            f"/requests/{story['isolated'].uuid}/",
            "/hosts/",
            f"/hosts/primary/{story['host']}/",
            "/isolated/",
            f"/campaigns/{story['campaign'].uuid}/",
        ],
        label,
    )
    # The new request's form and its preview.
    page.goto(f"/requests/new/?task=isolateHost&target_host={story['host']}")
    axe_check(page, f"the new request's form ({label})")
    page.check("#id_params-action_0")
    page.fill("#id_justification", "Lateral movement from this host, ticket SOC-5120")
    page.click("#request-form button[name=step][value=preview]")
    page.wait_for_selector("#file-request")
    axe_check(page, f"the preview ({label})")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_approvers_pages(open_as, axe_check, story, bob, language, viewport):
    page = open_as(bob, language=language, viewport=VIEWPORTS[viewport])
    pages(
        page,
        axe_check,
        ["/approvals/", "/requests/", f"/requests/{story['waiting'].uuid}/", f"/campaigns/{story['campaign'].uuid}/"],
        f"bob, {language}, {viewport}",
    )


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_auditors_pages(open_as, axe_check, story, dave, language, viewport):
    page = open_as(dave, language=language, viewport=VIEWPORTS[viewport])
    pages(
        page,
        axe_check,
        ["/requests/", "/audit/accounts/", "/audit/chain/", "/hosts/", f"/hosts/primary/{story['host']}/"],
        f"dave, {language}, {viewport}",
    )


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_login_page(browser, portal, axe_check, language, viewport):
    context = browser.new_context(
        base_url=portal.url, locale="ja-JP" if language == "ja" else "en-US", viewport=VIEWPORTS[viewport]
    )
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        if language == "ja":
            from tests.fixtures.browser import set_language

            set_language(page, "ja")
        axe_check(page, f"the login page ({language}, {viewport})")
    finally:
        context.close()
