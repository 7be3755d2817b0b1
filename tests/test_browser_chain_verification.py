"""Issue 17, point 7, in Chromium, in English and Japanese: auditors see the chain's last verification.

An auditor lands on the portal and on the request list, reads the one line about the audit chain
beside the JSON-lines export, follows it to the chain page, which leads with the last verification;
"Verify now" after the trail was tampered with shows Broken there, in the history and in the line.
On a 390 px phone none of these pages scrolls sideways, problems and history included.
"""

from __future__ import annotations

import re

import pytest

from audit import verification as chain_verification
from audit.models import VerificationSource
from tests.fixtures.browser import LANGUAGES, PHONE, assert_fits
from tests.support.filing import file_request
from tests.support.tampering import tamper_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INTACT = {"en": "Intact", "ja": "改ざんなし"}
BROKEN = {"en": "Broken", "ja": "破損あり"}
LINE_INTACT = {"en": r"Audit chain: last verified \d{4}-\d\d-\d\d \d\d:\d\d UTC — intact", "ja": r"監査チェーン：最終検証 \d{4}-\d\d-\d\d \d\d:\d\d UTC — 改ざんなし"}
LINE_BROKEN = {"en": r"Audit chain: last verified \d{4}-\d\d-\d\d \d\d:\d\d UTC — broken", "ja": r"監査チェーン：最終検証 \d{4}-\d\d-\d\d \d\d:\d\d UTC — 破損あり"}
BY_SCHEDULE = {"en": "by the scheduled check:", "ja": "（実行者：定期チェック）"}
BY_DAVE = {"en": "by dave:", "ja": "（実行者：dave）"}
NOT_EVIDENCE = {"en": "an indicator, not evidence", "ja": "目安であり、証拠ではありません"}


def filed(user, host: str = "TKY-WS-0105"):
    return file_request(
        user=user,
        task="isolateHost",
        target_host=f"host-{host.lower()}",
        target_host_name=host,
        params={"action": 1},
        justification="Beaconing to a known C2 address",
    )


def tamper_filed_message(request) -> None:
    """Rewrite the FILED event's message as the tables' owner could; its keyed hash no longer matches."""
    event = request.events.get(kind="filed")
    tamper_event("UPDATE responses_requestevent SET message = %s WHERE id = %s", ["nothing to see", event.pk])


@pytest.mark.parametrize("language", LANGUAGES)
def test_7_auditors_follow_the_line_to_the_last_verification_and_see_a_tampered_chain_broken(
    open_as, alice, dave, postgres, language
):
    from playwright.sync_api import expect

    request = filed(alice)
    chain_verification.verify_and_record(source=VerificationSource.SCHEDULE)

    auditor = open_as(dave, language=language)
    # Where auditors land: the line, beside the JSON-lines export.
    expect(auditor.locator("p.audit-links #audit-export")).to_be_visible()
    expect(auditor.locator("p.audit-links #audit-chain")).to_have_text(re.compile(LINE_INTACT[language]))
    # The request list, from the menu: the same line, next to the export.
    auditor.locator("nav a[href='/requests/']").click()
    auditor.wait_for_url(re.compile(r"/requests/$"))
    expect(auditor.locator("p.audit-links #audit-export")).to_have_attribute("href", "/audit/export.jsonl")
    expect(auditor.locator("p.audit-links #audit-chain")).to_have_text(re.compile(LINE_INTACT[language]))

    auditor.click("#audit-chain")
    auditor.wait_for_url(re.compile(r"/audit/chain/$"))
    expect(auditor.locator(".verification-lead")).to_contain_text(BY_SCHEDULE[language])
    expect(auditor.locator("#chain-verdict")).to_have_text(INTACT[language])
    expect(auditor.locator("#last-verification")).to_contain_text(NOT_EVIDENCE[language])
    expect(auditor.locator("#chain-problems")).to_have_count(0)

    tamper_filed_message(request)
    auditor.click("#verify-now")
    auditor.wait_for_url(re.compile(r"/audit/chain/$"))
    expect(auditor.locator("#chain-verdict")).to_have_text(BROKEN[language])
    expect(auditor.locator(".verification-lead")).to_contain_text(BY_DAVE[language])
    expect(auditor.locator("#chain-problems li")).to_have_count(1)
    expect(auditor.locator("#chain-problems")).to_contain_text(f"request {request.uuid}, filed)")

    auditor.click("#verification-history")
    auditor.wait_for_url(re.compile(r"/audit/chain/history/$"))
    rows = auditor.locator("#verifications tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator(".badge")).to_have_text(BROKEN[language])
    expect(rows.nth(0)).to_contain_text("dave")
    expect(rows.nth(1).locator(".badge")).to_have_text(INTACT[language])

    auditor.goto("/requests/")
    expect(auditor.locator("#audit-chain")).to_have_text(re.compile(LINE_BROKEN[language]))
    auditor.goto("/")
    expect(auditor.locator("#audit-chain")).to_have_text(re.compile(LINE_BROKEN[language]))


@pytest.mark.parametrize("language", LANGUAGES)
def test_7_the_chain_pages_fit_a_phone(open_as, alice, dave, postgres, language):
    from playwright.sync_api import expect

    requests = [filed(alice, f"TKY-WS-{number:04d}") for number in range(3)]
    chain_verification.verify_and_record(source=VerificationSource.COMMAND)
    for request in requests:  # several problems, each naming a 36-character request id
        tamper_filed_message(request)
    chain_verification.verify_and_record(source=VerificationSource.USER, user=dave)

    auditor = open_as(dave, language=language, viewport=PHONE)
    for path in ("/", "/requests/", "/audit/chain/", "/audit/chain/history/"):
        auditor.goto(path)
        assert_fits(auditor, path)
    expect(auditor.locator("#verifications tbody tr")).to_have_count(2)
    # The history is a stack of labelled cells on a phone, and its problems open without widening it.
    label = auditor.locator("#verifications tbody td").first.evaluate("e => getComputedStyle(e, '::before').content")
    assert label not in ("none", "normal", '""'), label
    auditor.locator("#verifications summary").first.click()
    expect(auditor.locator("#verifications .problems li")).to_have_count(3)
    assert_fits(auditor, "history with the problems open")
    auditor.goto("/audit/chain/")
    expect(auditor.locator("#chain-problems li")).to_have_count(3)
    expect(auditor.locator("#chain-verdict")).to_have_text(BROKEN[language])
    assert_fits(auditor, "chain page with problems")
