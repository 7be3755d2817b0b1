"""The portal in a real browser: Debian's Chromium driven by Playwright, against a live server.

An analyst files an isolateHost request, an approver approves it, an RQ worker submits
it to the simulated KSC, and the analyst's page shows SUBMITTED and the incident id, in
English and then in Japanese. A rejected request shows why. The no-JavaScript path
files a request too.

Playwright's own browser download is never used: .ci/run installs Debian's chromium.
"""

from __future__ import annotations

import pytest

from tests.fixtures.browser import TIMEOUT_MS
from tests.support.filing import file_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def run_ksc_worker() -> dict[str, str]:
    """What `manage.py rqworker ksc` does, in this process and thread (no fork), until the queue is empty.

    Returns each job's status and result (or error), for the test's assertion message.
    """
    import django_rq
    from rq import SimpleWorker

    queue = django_rq.get_queue("ksc")
    job_ids = queue.job_ids
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    outcomes = {}
    for job_id in job_ids:
        job = queue.fetch_job(job_id)
        result = job.latest_result() if job is not None else None
        outcomes[job_id] = f"{job.get_status() if job else 'gone'}: {result.return_value if result else None}" + (
            f" {result.exc_string}" if result and result.exc_string else ""
        )
    return outcomes


def test_an_isolation_is_filed_approved_submitted_and_shown_in_english_and_japanese(log_in, alice, bob, ksc_settings):
    from playwright.sync_api import expect

    host_id = ksc_settings.host_id("TKY-WS-0111")

    # The analyst chooses the task, finds the host by type-ahead, previews and files.
    analyst = log_in(alice)
    analyst.click("text=New response")
    analyst.check("#task-isolateHost")
    analyst.click("main button[type=submit]")
    analyst.fill("#host-q", "TKY-WS-0111")
    analyst.click("a.use-host")
    expect(analyst.locator("#id_target_host")).to_have_value(host_id)
    expect(analyst.locator("#chosen-host")).to_contain_text("TKY-WS-0111")
    analyst.check("#id_params-action_0")  # "Isolate from the network"
    analyst.fill("#id_justification", "Beaconing to a known C2 address")
    analyst.click("text=Preview what will be sent")
    expect(analyst.locator("#add-incident")).to_contain_text(f'"KLHST_WKS_HOSTNAME": "{host_id}"')
    expect(analyst.locator("#envelope")).to_contain_text('"task": "isolateHost"')
    analyst.click("text=File request")
    expect(analyst.locator(".status-line .badge")).to_have_text("Pending approval")
    request_url = analyst.url

    # Another person approves it from the queue, with a comment.
    approver = log_in(bob)
    approver.click("text=Approval queue")
    entry = approver.locator("article.queue-entry", has_text="TKY-WS-0111")
    expect(entry).to_contain_text("Beaconing to a known C2 address")
    expect(entry).to_contain_text("Changes the endpoint")
    entry.locator("textarea").fill("Confirmed with the host owner")
    entry.locator("button", has_text="Approve").click()
    expect(approver.locator(".messages")).to_contain_text("Approved: Network isolation on TKY-WS-0111 is on its way to KSC.")

    # The analyst's page is in flight and refreshes itself; a worker submits it to KSC.
    analyst.goto(request_url)
    expect(analyst.locator(".status-line .badge")).to_have_text("Queued")
    outcomes = run_ksc_worker()
    incidents = ksc_settings.incidents()
    assert len(incidents) == 1, outcomes
    incident_id = str(incidents[0]["id"])
    expect(analyst.locator(".status-line .badge")).to_have_text("Submitted", timeout=TIMEOUT_MS)
    expect(analyst.locator("#ksc-incident")).to_have_text(incident_id)
    expect(analyst.locator(".timeline")).to_contain_text("Confirmed with the host owner")
    # Submitted is not done: the outcome on the host waits for KSC's task, then the sweep follows it.
    expect(analyst.locator(".outcome-line .badge")).to_have_text("Waiting for the KSC task")
    from responses import outcomes

    outcomes.sweep()
    analyst.reload()
    # One status line: once KSC's task says something, the outcome stands in for "Submitted".
    expect(analyst.locator(".status-line .badge")).to_have_text("Completed")
    expect(analyst.locator("#outcome")).to_contain_text("[Response][Kuma] isolateHost")

    # The same page, in Japanese, through the switch in the header.
    analyst.select_option("#lang-select", "ja")
    analyst.click(".lang-switch button")
    expect(analyst.locator("html")).to_have_attribute("lang", "ja")
    expect(analyst.locator(".status-line .badge")).to_have_text("完了")  # the outcome stands in for 送信済み (one status line)
    expect(analyst.locator("#ksc-incident")).to_have_text(incident_id)
    expect(analyst.locator("h1")).to_contain_text("ホストをネットワークから分離する")
    expect(analyst.locator("body")).to_contain_text("タイムライン")
    # ...and a submitted isolation offers to release it.
    expect(analyst.locator("#release-isolation")).to_have_text("分離を解除")


def test_a_rejected_request_shows_the_rejection_comment(log_in, alice, carol):
    from playwright.sync_api import expect


    filed = file_request(
        user=alice,
        task="deleteFile",
        target_host="0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b",
        target_host_name="OSK-WS-0203",
        params={"path": r"C:\Users\Public\invoice.exe"},
        justification="Dropper from the phishing mail",
    )

    approver = log_in(carol)
    approver.goto(f"/requests/{filed.uuid}/")
    approver.fill(f"#comment-reject-{filed.uuid}", "Quarantine it instead; legal wants a copy")
    approver.click("form.decision-reject button")
    expect(approver.locator(".status-line .badge")).to_have_text("Rejected")

    analyst = log_in(alice)
    analyst.click("text=My requests")
    analyst.click(f"a[href='/requests/{filed.uuid}/']")
    expect(analyst.locator(".status-line .badge")).to_have_text("Rejected")
    expect(analyst.locator(".decision-comment")).to_have_text("Quarantine it instead; legal wants a copy")
    expect(analyst.locator("form.decision-cancel")).to_have_count(0)


def test_the_whole_filing_works_without_javascript(log_in, alice, ksc_settings):
    from playwright.sync_api import expect

    from responses.models import ResponseRequest

    analyst = log_in(alice, javascript=False)
    analyst.goto("/requests/new/?task=getFile")
    analyst.fill("#host-q", "SRV-FILE-01")
    # The form reloads with the hosts as buttons (issue 17, point 1: nothing typed is lost), not a fragment.
    analyst.click("form.host-search button")
    expect(analyst.locator("#host-hits")).to_contain_text("SRV-FILE-01")
    analyst.click("#host-hits button[name=use_host]")
    expect(analyst.locator("#chosen-host")).to_contain_text("SRV-FILE-01")
    analyst.fill("#id_params-path", r"C:\Windows\Temp\dropper.dll")
    analyst.fill("#id_justification", "Sample for the sandbox")
    analyst.click("text=Preview what will be sent")
    expect(analyst.locator("main")).to_contain_text("Needs no approval")
    analyst.click("text=File request")

    expect(analyst.locator(".status-line .badge")).to_have_text("Queued")
    filed = ResponseRequest.objects.get()
    assert (filed.task, filed.target_host, filed.params["path"]) == (
        "getFile",
        ksc_settings.host_id("SRV-FILE-01"),
        r"C:\Windows\Temp\dropper.dll",
    )
