"""Protected hosts and single-host requests (issue 27, point 3: "The same list applies to single-host requests").

A protected host is refused unless filed under the override: the permission (responses.policy), a
written reason, and one more approver; checked again before the request's first attempt (a host moved
into a protected group since filing is not sent), and kept in the request's trail. Against the
simulated KSC, with the real worker.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission

from responses import isolation, outcomes, workflow
from responses.models import EventKind, ProtectedHostRule, ResponseRequest, Status
from responses.states import TokenScope
from tests.fixtures.submission import run_worker

NEW = "/requests/new/"


@pytest.fixture
def protected_dc(submission, settings, tmp_path):
    rules = tmp_path / "protected.json"
    rules.write_text(json.dumps([{"group": "Managed devices/Servers/Domain Controllers", "reason": "AD"}]))
    settings.PROTECTED_HOSTS_FILE = str(rules)
    settings.KSC_SUBMIT_HOURLY_CAP = 0
    return submission


def _file(api, user, simulator, name="DC01", **changes):
    body = {
        "task": "isolateHost",
        "target_host": simulator.host_id(name),
        "params": {"action": 1},
        "justification": "DC01 beacons to the C2",
        **changes,
    }
    return api(user, scope=TokenScope.FILE).post("/api/v1/requests/", body, format="json")


def _may_override(user):
    user.user_permissions.add(Permission.objects.get(codename="override_protected_hosts"))


def test_a_protected_host_is_refused_without_the_override(protected_dc, api, alice):
    answer = _file(api, alice, protected_dc)
    assert answer.status_code == 400
    assert "This host is protected (group Managed devices/Servers/Domain Controllers (AD))" in " ".join(
        answer.json()["errors"]["target_host"]
    )
    assert not ResponseRequest.objects.exists()


def test_the_override_needs_the_permission(protected_dc, api, alice):
    answer = _file(api, alice, protected_dc, override_reason="patient zero")
    assert answer.status_code == 400
    assert answer.json()["errors"]["override_reason"] == ["You do not hold the protected-host override permission."]
    assert not ResponseRequest.objects.exists()


@pytest.mark.parametrize(
    ("reason", "field", "words"),
    [
        ("   ", "target_host", "This host is protected"),  # a blank reason is no reason
        (7, "override_reason", "override_reason must be text."),
        ("x" * 2001, "override_reason", "longer than 2000"),
        ("bad\x00", "override_reason", "control characters"),
    ],
)
def test_the_override_needs_a_written_reason(protected_dc, api, alice, reason, field, words):
    _may_override(alice)
    answer = _file(api, alice, protected_dc, override_reason=reason)
    assert answer.status_code == 400
    assert words in " ".join(answer.json()["errors"][field])
    assert not ResponseRequest.objects.exists()


def test_the_override_files_with_one_more_approver_and_is_audited(protected_dc, api, alice, bob, carol, client, login):
    _may_override(alice)
    plain = _file(api, alice, protected_dc, name="SRV-SQL-01").json()  # not protected: the task's own rule
    answer = _file(api, alice, protected_dc, override_reason="DC01 is patient zero")
    assert answer.status_code == 201, answer.content
    rr = ResponseRequest.objects.get(uuid=answer.json()["id"])
    assert rr.approvals_required == plain["approvals_required"] + 1 == 2
    filed = rr.events.get(kind=EventKind.FILED)
    assert filed.detail["protected_override"] == {
        "rule": "group Managed devices/Servers/Domain Controllers (AD)",
        "reason": "DC01 is patient zero",
    }
    login(client, bob)
    page = client.get(f"/requests/{rr.uuid}/").content.decode()
    assert 'id="protected-override"' in page and "DC01 is patient zero" in page
    workflow.approve(rr, user=bob)
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL  # one approval is not enough under the override
    workflow.approve(rr, user=carol)
    run_worker()
    rr.refresh_from_db()
    assert rr.status == Status.SUBMITTED  # the override holds at submission too
    assert len(protected_dc.incidents()) == 1


def test_a_host_moved_into_a_protected_group_after_filing_is_not_sent(protected_dc, api, alice, bob):
    simulator = protected_dc
    rr = ResponseRequest.objects.get(uuid=_file(api, alice, simulator, name="TKY-WS-0101").json()["id"])
    simulator.move_host(simulator.host_id("TKY-WS-0101"), "Servers/Domain Controllers")
    workflow.approve(rr, user=bob)
    run_worker()
    rr.refresh_from_db()
    assert rr.status == Status.FAILED and rr.attempts == 0
    assert "the host is protected now" in rr.last_error
    failed = rr.events.filter(kind=EventKind.FAILED).last()
    assert failed.detail["protected_at_submission"] == "group Managed devices/Servers/Domain Controllers (AD)"
    assert simulator.incidents() == []


def test_a_rule_added_after_filing_stops_the_request_too(protected_dc, api, alice, bob, settings):
    settings.PROTECTED_HOSTS_FILE = ""
    simulator = protected_dc
    rr = ResponseRequest.objects.get(uuid=_file(api, alice, simulator, name="SRV-SQL-01").json()["id"])
    ProtectedHostRule.objects.create(name="SRV-SQL-*", reason="the payroll database")
    workflow.approve(rr, user=bob)
    run_worker()
    rr.refresh_from_db()
    assert rr.status == Status.FAILED and "name SRV-SQL-* (the payroll database)" in rr.last_error
    assert simulator.incidents() == []


def test_the_form_refuses_at_preview_and_shows_the_override(protected_dc, client, login, alice):
    simulator = protected_dc
    form = {
        "task": "isolateHost",
        "target_host": simulator.host_id("DC01"),
        "params-action": "1",
        "justification": "DC01 beacons",
    }
    login(client, alice)
    refused = client.post(NEW, form)
    assert refused.status_code == 400 and "This host is protected" in refused.content.decode()
    refused = client.post(NEW, {**form, "override_reason": "patient zero"})
    assert refused.status_code == 400 and "override permission" in refused.content.decode()
    _may_override(alice)
    page = client.post(NEW, {**form, "override_reason": "patient zero"})
    text = page.content.decode()
    assert page.status_code == 200, text
    assert 'id="preview-protected"' in text and "patient zero" in text
    assert "Needs approval by 2 approvers" in text
    assert not ResponseRequest.objects.exists()


def test_the_paired_release_of_an_overridden_isolation_is_sent(protected_dc, api, alice, bob, carol):
    # The override let the isolation through; its release (made by the portal) must never be held back.
    _may_override(alice)
    filed = _file(api, alice, protected_dc, override_reason="DC01 is patient zero", isolate_hours=4).json()
    rr = ResponseRequest.objects.get(uuid=filed["id"])
    workflow.approve(rr, user=bob)
    workflow.approve(rr, user=carol)
    run_worker()
    rr.refresh_from_db()
    assert rr.status == Status.SUBMITTED
    outcomes.sweep()  # the simulator completed the task: the isolation is in effect
    isolation.run_due_releases()
    now = api(alice).post(f"/api/v1/requests/{rr.uuid}/release-now/", {"comment": "contained"}, format="json")
    assert now.status_code == 200, now.content
    run_worker()
    release = ResponseRequest.objects.get(released_isolation__request=rr)
    assert release.status == Status.SUBMITTED, release.last_error
    assert len(protected_dc.incidents()) == 2
