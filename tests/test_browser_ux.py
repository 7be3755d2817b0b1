"""Issue 17: the portal at 3 a.m., in Chromium, in English and Japanese, at 1440 px and on a 390 px phone.

Each test is one point of the issue's walk-through (the number in its name). The phone run opens
every page an analyst, an approver and an auditor reach and fails on any sideways scroll.
"""

from __future__ import annotations

import re

import pytest

from responses import workflow
from tests.fixtures.browser import LANGUAGES, PHONE, assert_fits
from tests.support.filing import file_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

def assert_header_reachable(page, where: str) -> None:
    """The user's name and Log out are on screen, not pushed off it."""
    for selector in (".whoami", ".logout button"):
        box = page.locator(selector).bounding_box()
        assert box is not None, f"{where}: {selector} is not shown"
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{where}: {selector} is off screen: {box}"


def file_isolation(user, host_id: str, name: str = "TKY-WS-0105"):
    return file_request(
        user=user,
        task="isolateHost",
        target_host=host_id,
        target_host_name=name,
        params={"action": 1},
        justification="Beaconing to a known C2 address",
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_2_no_page_scrolls_sideways_on_a_phone(open_as, alice, bob, dave, ksc_settings, language):
    from playwright.sync_api import expect

    host_id = ksc_settings.host_id("TKY-WS-0105")
    pending = file_isolation(alice, host_id)

    analyst = open_as(alice, language=language, viewport=PHONE)
    for path in ("/", "/requests/new/", "/requests/mine/", f"/requests/{pending.uuid}/", "/account/",
                 "/requests/new/?task=onDemandScan", "/requests/new/?task=iocScan",
                 "/hosts/search?q=TKY-WS&task=isolateHost", f"/hosts/{host_id}/"):
        analyst.goto(path)
        assert_fits(analyst, path)
        assert_header_reachable(analyst, path)
    # Every step of a new request, up to the preview.
    analyst.goto("/requests/new/?task=isolateHost")
    analyst.fill("#host-q", "TKY-WS-0105")
    analyst.locator("a.use-host").first.click()
    analyst.check("#id_params-action_0")
    analyst.fill("#id_justification", "Beaconing to a known C2 address " * 3)
    analyst.click("#request-form button[name=step][value=preview]")
    expect(analyst.locator("#file-request")).to_be_visible()
    assert_fits(analyst, "preview")
    assert_header_reachable(analyst, "preview")
    # Tables become stacks: each cell says what it is.
    analyst.goto("/requests/mine/")
    label = analyst.locator("table.requests tbody td").first.evaluate("e => getComputedStyle(e, '::before').content")
    assert label not in ("none", "normal", '""'), label

    approver = open_as(bob, language=language, viewport=PHONE)
    for path in ("/", "/approvals/", "/requests/", f"/requests/{pending.uuid}/", "/account/"):
        approver.goto(path)
        assert_fits(approver, path)
        assert_header_reachable(approver, path)
    # The approver decides from the phone.
    approver.goto("/approvals/")
    entry = approver.locator("article.queue-entry").first
    entry.locator("button.primary").scroll_into_view_if_needed()
    expect(entry.locator("button.primary")).to_be_in_viewport()

    auditor = open_as(dave, language=language, viewport=PHONE)
    for path in ("/", "/requests/", "/audit/accounts/", f"/requests/{pending.uuid}/"):
        auditor.goto(path)
        assert_fits(auditor, path)
        assert_header_reachable(auditor, path)


ISOLATE_WORDS = {"en": ("Isolate from the network", "End isolation"), "ja": ("ネットワークから分離する", "分離を終了する")}
CUT_OFF = {"en": "TKY-WS-0105 will be cut off from the network except for KSC.", "ja": "TKY-WS-0105 は KSC との通信を除き、ネットワークから切り離されます。"}
REJECTED_NEVER_SENT = {"en": "Rejected, never sent to KSC.", "ja": "却下されたため、KSC には送信されていません。"}
NO_APPROVAL = {"en": "This task needs no approval: nobody decides on it.", "ja": "このタスクは承認不要のため、承認者の判断はありません。"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_4_the_portal_says_what_will_happen_in_words(open_as, alice, carol, ksc_settings, tmp_path, language):
    from playwright.sync_api import expect

    from tests.support.openioc import ioc_zip_bytes

    analyst = open_as(alice, language=language)
    analyst.goto("/requests/new/?task=isolateHost")
    # Two plain choices, in words; no select, no "1/0".
    isolate, release = ISOLATE_WORDS[language]
    expect(analyst.locator("label[for=id_params-action_0]")).to_have_text(isolate)
    expect(analyst.locator("label[for=id_params-action_1]")).to_have_text(release)
    expect(analyst.locator("select[name=params-action]")).to_have_count(0)
    # (The isolation's end is in hours, in words: "1 hour after it takes effect"; the action never says 1 or 0.)
    expect(analyst.locator("fieldset:has(#id_params-action_0)").last).not_to_contain_text("1")
    expect(analyst.locator("fieldset:has(#id_params-action_0)").last).not_to_contain_text("0")
    expect(analyst.locator("#request-form")).to_contain_text({"en": "1 hour after", "ja": "1 時間後"}[language])
    analyst.fill("#host-q", "TKY-WS-0105")
    analyst.locator("a.use-host").first.click()
    analyst.check("#id_params-action_0")
    analyst.fill("#id_justification", "Beaconing")
    analyst.click("#request-form button[name=step][value=preview]")
    # The preview leads with the consequence; the File button is on screen at 1440 x 900; the raw calls are folded.
    expect(analyst.locator("#consequence")).to_have_text(CUT_OFF[language])
    expect(analyst.locator("#file-request")).to_be_in_viewport()
    expect(analyst.locator("#raw-calls")).not_to_have_attribute("open", "")
    expect(analyst.locator("#add-incident")).not_to_be_visible()
    analyst.click("#raw-calls summary")
    expect(analyst.locator("#add-incident")).to_be_visible()

    # An IOC archive: shown once as size and SHA-256, never as base64; the summary says "only if found".
    archive = ioc_zip_bytes()
    import base64
    import hashlib

    analyst.goto("/requests/new/?task=iocScan")
    analyst.fill("#id_target_host", ksc_settings.host_id("TKY-WS-0105"))
    zip_path = tmp_path / "iocs.zip"
    zip_path.write_bytes(archive)
    analyst.set_input_files("#id_params-ioc", str(zip_path))
    analyst.check("#id_params-isolateHost")
    analyst.fill("#id_justification", "IOC sweep")
    analyst.click("#request-form button[name=step][value=preview]")
    expect(analyst.locator(".ioc-archive")).to_contain_text(hashlib.sha256(archive).hexdigest())
    assert base64.b64encode(archive).decode() not in analyst.content()
    expect(analyst.locator("#consequence")).to_contain_text("TKY-WS-0105")
    only_if = {"en": "only if any is found", "ja": "見つかった場合のみ"}[language]
    expect(analyst.locator("#consequence")).to_contain_text(only_if)

    # A rejected request says it never went to KSC; a task without approval says nobody decides.
    rejected = file_isolation(alice, ksc_settings.host_id("TKY-WS-0105"))
    workflow.reject(rejected, user=carol, comment="Not this one")
    analyst.goto(f"/requests/{rejected.uuid}/")
    expect(analyst.locator("#attempts-none")).to_have_text(REJECTED_NEVER_SENT[language])
    no_approval = file_request(
        user=alice, task="getFile", target_host=ksc_settings.host_id("TKY-WS-0105"),
        params={"path": r"C:\Temp\a.dll"}, justification="Sample",
    )
    analyst.goto(f"/requests/{no_approval.uuid}/")
    expect(analyst.locator("#decisions-none")).to_have_text(NO_APPROVAL[language])


WORDS = {
    "en": {"md5": "MD5 hash", "ioc": "IOC archive", "justification": "Justification", "folder": "Folder"},
    "ja": {"md5": "MD5 ハッシュ", "ioc": "IOC アーカイブ", "justification": "理由", "folder": "フォルダー"},
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_5_errors_are_in_words_all_at_once_with_a_summary_that_takes_focus(open_as, alice, ksc_settings, tmp_path, language):
    from playwright.sync_api import expect

    words = WORDS[language]
    analyst = open_as(alice, language=language)
    # Nothing filled in: the host, the justification and the file are all wrong, and all said at once.
    analyst.goto("/requests/new/?task=getFile")
    analyst.click("#request-form button[name=step][value=preview]")
    summary = analyst.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary.locator("li")).to_have_count(3)
    expect(summary).to_contain_text(words["md5"])
    expect(summary).to_contain_text(words["justification"])
    for internal in ("md5hash", "sha256hash", "target_host", "justification"):
        assert internal not in summary.inner_text(), internal
    summary.locator("a[href='#id_justification']").click()
    expect(analyst.locator("#id_justification")).to_be_focused()

    # A bad ZIP is named by its label and is not shown as attached afterwards.
    analyst.goto("/requests/new/?task=iocScan")
    analyst.fill("#id_target_host", ksc_settings.host_id("TKY-WS-0105"))
    bad = tmp_path / "iocs.zip"
    bad.write_bytes(b"this is not a zip archive")
    analyst.set_input_files("#id_params-ioc", str(bad))
    analyst.fill("#id_justification", "IOC sweep")
    analyst.click("#request-form button[name=step][value=preview]")
    expect(analyst.locator("#error-summary")).to_contain_text(words["ioc"])
    assert "ioc " not in analyst.locator("#error-summary").inner_text()
    expect(analyst.locator("#carried-ioc")).to_have_count(0)

    # onDemandScan: spare rows behind "add another"; a row with a type but no tick is an error;
    # "Folder", never "Folder (22)".
    analyst.goto("/requests/new/?task=onDemandScan")
    expect(analyst.locator("tr.scan-row:visible")).to_have_count(1)
    analyst.click("button.add-row")
    expect(analyst.locator("tr.scan-row:visible")).to_have_count(2)
    analyst.fill("#id_target_host", ksc_settings.host_id("TKY-WS-0105"))
    analyst.select_option("#id_scan-0-type", "14")  # System memory, Enabled left unticked
    analyst.check("#id_scan-1-enabled")
    analyst.select_option("#id_scan-1-type", "22")  # Folder without a path
    analyst.fill("#id_justification", "Scan")
    analyst.click("#request-form button[name=step][value=preview]")
    summary = analyst.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text(words["folder"])
    assert "(22)" not in summary.inner_text() and "path " not in summary.inner_text()
    expect(analyst.locator("#id_scan-0-enabled")).to_be_visible()
    expect(summary.locator("a[href='#id_scan-0-enabled']")).to_have_count(1)


NOT_FOUND = {"en": "Page not found", "ja": "ページが見つかりません"}
STEP_UP_TITLE = {"en": "Network isolation", "ja": "ネットワーク分離"}
APPROVED_FLASH = {"en": "Approved: Network isolation on TKY-WS-0105 is on its way to KSC.",
                  "ja": "承認しました：TKY-WS-0105 のネットワーク分離を KSC に送信します。"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_9_skip_link_error_pages_favicon_step_up_and_flash_name_things(open_as, alice, bob, ksc_settings, settings, language):
    from playwright.sync_api import expect

    from responses.models import ResponseRequest
    from tests.fixtures.accounts import totp_code

    pending = file_isolation(alice, ksc_settings.host_id("TKY-WS-0105"))
    approver = open_as(bob, language=language)

    # The first Tab reaches "Skip to content", which moves the focus to the page's content.
    approver.goto("/")
    approver.keyboard.press("Tab")
    expect(approver.locator(".skip-link")).to_be_focused()
    approver.keyboard.press("Enter")
    expect(approver.locator("main")).to_be_focused()

    # A favicon that is served.
    icon = approver.locator("link[rel=icon]").get_attribute("href")
    assert approver.request.get(icon).status == 200

    # Not found: the portal's layout, the user still signed in, a way back.
    response = approver.goto("/requests/00000000-0000-4000-8000-000000000000/")
    assert response.status == 404
    expect(approver.locator("h1")).to_have_text(NOT_FOUND[language])
    expect(approver.locator(".whoami")).to_have_text("bob")
    approver.click("#way-back")
    expect(approver).to_have_url(re.compile(r"/$"))

    # The step-up page names the request it guards; the flash after it names the request too.
    settings.STEP_UP_SECONDS = 0
    approver.goto(f"/requests/{pending.uuid}/")
    approver.click("form.decision-approve button")
    expect(approver.locator("#step-up-request")).to_contain_text(STEP_UP_TITLE[language])
    expect(approver.locator("#step-up-request")).to_contain_text("TKY-WS-0105")
    from django_otp.plugins.otp_totp.models import TOTPDevice

    approver.fill("#id_stepup_code", totp_code(TOTPDevice.objects.get(user=bob), steps_ahead=1))
    approver.click("main form button.primary")
    expect(approver.locator(".messages")).to_contain_text(APPROVED_FLASH[language])
    assert ResponseRequest.objects.get(pk=pending.pk).status != "pending_approval"


# ASCII words a Japanese page may show: names, ids and product terms, not English sentences.
ALLOWED_ASCII = {"alice", "bob", "dave", "carol", "kuma", "response", "getfile", "isolatehost", "path", "windows",
                 "temp", "dll", "sha", "json", "lines", "csv",
                 "primary"}  # the default KSC server's name: data from the servers file, like a username


def english_words(text: str) -> set[str]:
    """Lower-case ASCII words of 4+ letters: what is left of English on a Japanese page."""
    return {word for word in re.findall(r"(?<![\w./\\-])[a-z]{4,}(?![\w./\\-])", text)} - ALLOWED_ASCII


def test_8_japanese_pages_have_no_english_left_and_render_with_cjk_fonts(open_as, alice, bob, ksc_settings, tmp_path):
    from playwright.sync_api import expect

    host_id = ksc_settings.host_id("TKY-WS-0105")
    no_approval = file_request(
        user=alice, task="getFile", target_host=host_id, target_host_name="TKY-WS-0105",
        params={"path": r"C:\Temp\a.dll"}, justification="サンドボックス用",
    )
    pending = file_request(
        user=alice, task="isolateHost", target_host=host_id, target_host_name="TKY-WS-0105",
        params={"action": 1}, justification="既知の C2 アドレスへのビーコン",
    )

    analyst = open_as(alice, language="ja")
    # The language menu names English in English.
    expect(analyst.locator("#lang-select option[value=en]")).to_have_text("English")
    # The trail's system texts (stored in English) read in Japanese; the actor "system" too.
    analyst.goto(f"/requests/{no_approval.uuid}/")
    timeline = analyst.locator(".timeline")
    expect(timeline).to_contain_text("このタスクは承認不要です。")
    expect(timeline).to_contain_text("システム")
    assert not english_words(timeline.inner_text()), english_words(timeline.inner_text())
    # Counts read naturally; the list has no English left.
    analyst.goto("/requests/mine/")
    expect(analyst.locator("table.requests")).to_contain_text("承認 0/1")
    assert not english_words(analyst.locator("main").inner_text()), english_words(analyst.locator("main").inner_text())
    for path in ("/", f"/requests/{pending.uuid}/", "/account/"):
        analyst.goto(path)
        words = english_words(analyst.locator("body").inner_text())
        assert not words, f"{path}: {words}"
    # Role names in Japanese.
    expect(analyst.locator("main")).to_contain_text("アナリスト")

    # Real CJK glyphs in screenshots (Debian's fonts-noto-cjk), not boxes.
    assert analyst.evaluate("document.fonts.check('16px \"Noto Sans CJK JP\"', '承認')")
    analyst.goto(f"/requests/{pending.uuid}/")
    width = analyst.evaluate(
        """() => { const c = document.createElement('canvas').getContext('2d');
            c.font = '16px "Noto Sans CJK JP"'; const cjk = c.measureText('承認').width;
            c.font = '16px monospace'; return [cjk, c.measureText('承認').width]; }"""
    )
    assert width[0] > 20, width  # two full-width glyphs, not two narrow "tofu" boxes
    analyst.screenshot(path=str(tmp_path / "request-ja.png"), full_page=True)

    approver = open_as(bob, language="ja")
    approver.goto("/approvals/")
    words = english_words(approver.locator("body").inner_text())
    assert not words, f"/approvals/: {words}"


INTACT = {"en": "Intact", "ja": "改ざんなし"}
PENDING_WORDS = {"en": "Pending approval", "ja": "承認待ち"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_7_auditors_reach_the_trail_export_and_the_chain_verification_and_read_csv_statuses(
    open_as, alice, dave, ksc_settings, language
):
    import csv
    import io
    import json

    from playwright.sync_api import expect

    from responses.models import Status

    pending = file_isolation(alice, ksc_settings.host_id("TKY-WS-0105"))
    auditor = open_as(dave, language=language)
    auditor.goto("/requests/")
    # The JSON-lines export, from the page.
    href = auditor.locator("#audit-export").get_attribute("href")
    lines = [json.loads(line) for line in auditor.request.get(href).text().splitlines() if line.strip()]
    assert any(line.get("request") == str(pending.uuid) for line in lines), lines[:2]
    # The chain's verification, from the page.
    auditor.click("#audit-chain")
    auditor.click("#verify-now")
    expect(auditor.locator("#chain-verdict")).to_have_text(INTACT[language])
    # The CSV: the status in words (the reader's language), the code in its own column.
    auditor.goto("/requests/")
    csv_href = auditor.locator("a[href^='/requests/export.csv']").get_attribute("href")
    rows = list(csv.DictReader(io.StringIO(auditor.request.get(csv_href).text().lstrip("\ufeff"))))
    row = next(row for row in rows if row["uuid"] == str(pending.uuid))
    assert (row["status"], row["status_code"]) == (PENDING_WORDS[language], Status.PENDING_APPROVAL)


ADVICE_REQUESTER = {"en": "ask one of the Approvers", "ja": "承認者"}
ADVICE_APPROVER = {"en": "retry the submission", "ja": "再試行"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_6_no_dead_ends(open_as, alice, bob, ksc_settings, settings, language):
    from playwright.sync_api import expect

    from responses.models import ResponseRequest, Status

    settings.KSC_CONSOLE_URL = "https://ksc.example.test:8080"
    settings.EXTERNAL_REF_URL = "https://siem.example.test/alerts/{ref}"
    host_id = ksc_settings.host_id("TKY-WS-0105")
    failed = file_isolation(alice, host_id)
    ResponseRequest.objects.filter(pk=failed.pk).update(
        status=Status.FAILED, last_error="KSC refused the incident: the host is not in a group this account may manage"
    )
    analyst = open_as(alice, language=language)
    # A failed request says what to do, and files again as a prefilled copy.
    analyst.goto(f"/requests/{failed.uuid}/")
    expect(analyst.locator("#failure-advice")).to_contain_text(ADVICE_REQUESTER[language])
    analyst.click("#file-again")
    expect(analyst.locator("#id_target_host")).to_have_value(host_id)
    expect(analyst.locator("#id_params-action_0")).to_be_checked()
    expect(analyst.locator("#id_justification")).to_have_value("Beaconing to a known C2 address")
    approver = open_as(bob, language=language)
    approver.goto(f"/requests/{failed.uuid}/")
    expect(approver.locator("#failure-advice")).to_contain_text(ADVICE_APPROVER[language])

    # A release links to the isolation it ends; the external reference and the KSC console link out.
    isolation = file_isolation(alice, host_id)
    release = file_request(
        user=alice, task="isolateHost", target_host=host_id, target_host_name="TKY-WS-0105",
        params={"action": 0}, justification="Cleaned", external_ref="INC 7/42",
    )
    ResponseRequest.objects.filter(pk=release.pk).update(ksc_incident_id=77)
    analyst.goto(f"/requests/{release.uuid}/")
    expect(analyst.locator("#ended-isolation")).to_have_attribute("href", f"/requests/{isolation.uuid}/")
    expect(analyst.locator("#external-ref")).to_have_attribute("href", "https://siem.example.test/alerts/INC%207%2F42")
    expect(analyst.locator("#ksc-console")).to_have_attribute("href", "https://ksc.example.test:8080")

    # Cancelling asks first: dismissed, nothing happens; confirmed, the request is cancelled.
    analyst.once("dialog", lambda dialog: dialog.dismiss())
    analyst.click("form.decision-cancel button")
    expect(analyst.locator(".status-line .badge")).to_have_attribute("data-status", Status.PENDING_APPROVAL)
    assert ResponseRequest.objects.get(pk=release.pk).status == Status.PENDING_APPROVAL
    analyst.once("dialog", lambda dialog: dialog.accept())
    analyst.click("form.decision-cancel button")
    expect(analyst.locator(".status-line .badge")).to_have_attribute("data-status", Status.CANCELLED)


SAME_PENDING = {"en": "frank filed the same request", "ja": "frank が同じ依頼を"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_6_a_second_identical_pending_request_is_flagged_and_filed_only_on_confirmation(
    open_as, alice, frank, ksc_settings, language
):
    from playwright.sync_api import expect

    from responses.models import ResponseRequest

    # A file deletion: a second isolation of the host would be refused outright (one isolation change
    # in flight per host, tests/test_isolation_until.py), so the same-request confirmation is shown on
    # a task that may be filed twice.
    host_id = ksc_settings.host_id("TKY-WS-0105")
    file_request(
        user=frank,
        task="deleteFile",
        target_host=host_id,
        target_host_name="TKY-WS-0105",
        params={"path": "C:\\Windows\\Temp\\dropper.dll"},
        justification="Dropper found by the SIEM",
    )
    analyst = open_as(alice, language=language)
    analyst.goto("/requests/new/?task=deleteFile")
    analyst.fill("#id_target_host", host_id)
    analyst.fill("#id_params-path", "C:\\Windows\\Temp\\dropper.dll")
    analyst.fill("#id_justification", "Same alert, second analyst")
    analyst.click("#request-form button[name=step][value=preview]")
    expect(analyst.locator("#same-pending")).to_contain_text(SAME_PENDING[language])
    analyst.click("#file-request")  # not confirmed: nothing is filed
    expect(analyst.locator("#same-pending")).to_be_visible()
    assert ResponseRequest.objects.count() == 1
    analyst.check("#confirm-duplicate")
    analyst.click("#file-request")
    expect(analyst.locator(".status-line .badge")).to_have_attribute("data-status", "pending_approval")
    assert ResponseRequest.objects.count() == 2


SELECT = {"en": "Select", "ja": "選択する"}
DID_YOU_MEAN = {
    "en": "This is not a KSC host id, but one host is named TKY-WS-0105. Did you mean it? Select it below.",
    "ja": "これは KSC のホスト ID ではありませんが、TKY-WS-0105 という名前のホストが 1 台あります。このホストですか？下で選択してください。",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_3_choosing_the_host(open_as, alice, ksc_settings, language):
    from playwright.sync_api import expect

    host_id = ksc_settings.host_id("TKY-WS-0105")
    analyst = open_as(alice, language=language)
    analyst.goto("/requests/new/?task=isolateHost")
    # Any part of the name finds the host, not only its start.
    analyst.fill("#host-q", "ws-0105")
    row = analyst.locator(".host-results-inner table.hosts tbody tr")
    expect(row).to_have_count(1)
    # The row shows what tells two hosts apart at 3 a.m.: OS, last seen, group; the button reads "Select".
    expect(row.locator("td").nth(1)).to_contain_text("tky-ws-0105")
    expect(row.locator("td").nth(3)).not_to_have_text("—")  # group
    expect(row.locator("td").nth(4)).to_contain_text("Windows")  # OS
    expect(row.locator("td time")).to_have_count(1)
    button = row.locator("a.use-host")
    assert button.evaluate("e => e.innerText.trim()") == SELECT[language]
    # A display name typed where the id goes is offered back, not refused with a bare error.
    analyst.fill("#id_target_host", "TKY-WS-0105")
    analyst.check("#id_params-action_0")
    analyst.fill("#id_justification", "Beaconing")
    analyst.click("#request-form button[name=step][value=preview]")
    expect(analyst.locator("#request-form")).to_contain_text(DID_YOU_MEAN[language])
    suggestion = analyst.locator(".did-you-mean a.use-host")
    expect(suggestion).to_have_text("TKY-WS-0105")
    suggestion.click()
    expect(analyst.locator("#id_target_host")).to_have_value(host_id)
    analyst.click("#request-form button[name=step][value=preview]")
    expect(analyst.locator("#file-request")).to_be_visible()
