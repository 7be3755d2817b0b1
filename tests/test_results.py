"""Results, not just "Completed" (issue 30, point 3).

A finished iocScan says whether indicators were found and whether it isolated (KSC's task history, or
"KSC does not say"); a getFile says where the copy is and how to fetch it; "completed with warning"
says what the warning was. A request filed while KSC was unreachable gets KSC's host name once KSC
answers: on any look-up (the host directory), and from the outcome sweep.
"""

from __future__ import annotations

import html as html_module

import pytest
from django.core.cache import cache
from django.utils import timezone

from ksc_client.hosts import Host
from responses import host_directory, outcomes
from responses.models import OutcomeState, ResponseOutcome, ResponseRequest, Status
from tests.support.filing import file_request
from tests.support.openioc import ioc_zip_b64
from tests.support.pages import file, page, set_status


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def finished(rr, state=OutcomeState.COMPLETED, reason: str = ""):
    rr = set_status(rr, Status.SUBMITTED, ksc_incident_id=rr.pk + 500, submitted_at=timezone.now())
    ResponseOutcome.objects.create(request=rr, state=state, reason=reason, ksc_task_id=str(rr.pk + 900))
    return rr


def ioc_scan(user, *, isolate: bool):
    return file_request(
        user=user,
        task="iocScan",
        target_host=f"h-ioc-{int(isolate)}",
        params={"ioc": ioc_zip_b64(), "isolateHost": isolate, "scanCriticalAreas": False, "quarantineObject": False},
        justification="IOC sweep",
    )


def detail(client, rr) -> str:
    return html_module.unescape(page(client.get(f"/requests/{rr.uuid}/")))


class TestWords:
    def test_an_ioc_scan_without_words_from_ksc_says_ksc_does_not_say(self, client, login, alice):
        rr = finished(ioc_scan(alice, isolate=False))
        login(client, alice)
        html = detail(client, rr)
        assert "Indicators found" in html and "KSC does not say: its task history tells that the scan finished" in html
        assert "No: the scan was not set to isolate the host." in html

    def test_an_ioc_scan_set_to_isolate_quotes_ksc_and_never_claims_it_isolated(self, client, login, alice):
        rr = finished(ioc_scan(alice, isolate=True), reason="2 IOC matches: host isolated")
        login(client, alice)
        html = detail(client, rr)
        assert "KSC's task history says: 2 IOC matches: host isolated" in html
        assert "Only if it found indicators, and KSC does not say whether it did" in html

    def test_a_get_file_says_where_the_copy_is(self, client, login, alice):
        rr = finished(file(alice, task="getFile", params={"path": "C:\\Users\\x\\evil.exe"}, target_host="h-get"))
        login(client, alice)
        html = detail(client, rr)
        assert "Where the copy is" in html and "host's KSC repository on server primary" in html

    def test_a_warning_says_what_it_was_or_that_ksc_gave_no_reason(self, client, login, alice):
        quiet = finished(file(alice, target_host="h-w1"), OutcomeState.WARNING)
        loud = finished(file(alice, target_host="h-w2"), OutcomeState.WARNING, reason="Firewall rule partly applied")
        login(client, alice)
        assert "KSC gave no reason for the warning" in detail(client, quiet)
        html = detail(client, loud)
        assert "The warning" in html and "Firewall rule partly applied" in html
        assert "KSC gave no reason" not in html

    def test_nothing_is_said_before_the_task_finished(self, client, login, alice):
        rr = finished(ioc_scan(alice, isolate=False), OutcomeState.RUNNING)
        login(client, alice)
        html = detail(client, rr)
        assert "Indicators found" not in html and "KSC does not say" not in html

    def test_japanese(self, client, login, alice):
        rr = finished(ioc_scan(alice, isolate=False))
        login(client, alice)
        client.cookies["django_language"] = "ja"
        html = detail(client, rr)
        assert "KSC does not say" not in html and "KSC は" in html


class TestNamesFilledLater:
    def test_a_look_up_fills_the_name_of_requests_filed_without_one(self, alice):
        nameless = file(alice, target_host="h-late", target_host_name="")
        named = file(alice, target_host="h-late", target_host_name="AS-FILED", params={"action": 0})
        host_directory.record_seen([Host(id="h-late", display_name="TKY-WS-0777", fqdn="", ip="", group_name="G", last_seen=None)])
        nameless.refresh_from_db()
        named.refresh_from_db()
        assert nameless.target_host_name == "TKY-WS-0777"
        assert named.target_host_name == "AS-FILED", "a name as filed is kept"

    def test_the_outcome_sweep_fills_it_when_ksc_answers_again(self, alice, ksc_settings):
        host_id = ksc_settings.host_id("TKY-WS-0105")
        rr = finished(file(alice, target_host=host_id, target_host_name=""), OutcomeState.RUNNING)
        assert rr.target_host_name == ""
        outcomes.sweep(now=timezone.now() + timezone.timedelta(hours=1))
        rr.refresh_from_db()
        assert rr.target_host_name == "TKY-WS-0105"
        assert ResponseRequest.objects.filter(target_host_name="").count() == 0
