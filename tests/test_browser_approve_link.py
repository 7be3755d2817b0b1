"""The approver's phone flow (issue 29, point 7): the Approve link of a real e-mail, opened at 390 px, to the decision.

Chromium signs bob in (password, then the authenticator's code: the fresh proof the
approval needs), follows the link the SMTP server received, and approves there.
"""

from __future__ import annotations

import re

import pytest

from responses.models import ResponseRequest, Status
from tests.fixtures.browser import PHONE, assert_fits
from tests.fixtures.notifications import file, run_notify_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

@pytest.mark.parametrize("language", ["en", "ja"])
def test_an_approver_approves_from_the_link_in_his_mail_on_a_phone(
    language, notifying, smtp_server, notify_queue, open_as, alice, bob
):
    rr = file(alice)
    run_notify_worker(notify_queue)
    [mail] = smtp_server.to("bob@example.test")
    path = re.search(r"https://edr\.example\.test(/requests/\S+/approve/confirm/)", mail.get_content()).group(1)

    page = open_as(bob, language=language, viewport=PHONE)
    page.goto(path)
    assert_fits(page, "the approve link's page")
    assert "PAYROLL-01" in page.inner_text("main")
    page.fill("#approve-comment", "checked the alert, go")
    page.click("#approve-button")
    page.wait_for_url(re.compile(rf"/requests/{rr.uuid}/$"))
    assert_fits(page, "the request page after approving")
    rr = ResponseRequest.objects.get(pk=rr.pk)
    assert rr.status != Status.PENDING_APPROVAL
    assert rr.approvals.get().approver_username == "bob"
