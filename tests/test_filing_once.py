"""One filing path, each check once (issue 25, point 5).

The web form's "File request", the API's POST and a direct call of responses.filing.file_request
each ask: the right to file once, the filing limit once before anything costly and once again
under the requester's row lock (the deliberate re-check), the user row locked once, the host id
and the params cleaned once, KSC asked about the host once. The checks are counted by wrapping
the real functions (they still run); the row lock is counted in PostgreSQL's SQL.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from responses import catalog, filing, hosts, policy, workflow
from responses.errors import NotAllowed, RateLimited
from responses.forms import Filing, seal
from responses.models import ResponseRequest, Source
from tests.fixtures.accounts import sign_in
from tests.fixtures.api import REQUESTS, body

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def counted(monkeypatch, settings):
    """Counts of each check the filing path makes; the real functions still run."""
    settings.REQUEST_RATE_LIMIT = 10  # on, so that each count of it reads the database
    calls: Counter[str] = Counter()

    def wrap(module, name, label, when=lambda *a, **k: True):
        real = getattr(module, name)

        def counting(*args, **kwargs):
            if when(*args, **kwargs):
                calls[label] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)

    wrap(policy, "may", "right to file", when=lambda user, action, *a, **k: action == policy.FILE)
    wrap(filing, "check_filing_limit", "limit before")
    wrap(filing, "_enforce_filing_limit", "limit")
    wrap(catalog, "clean_params", "params cleaned")
    wrap(catalog, "clean_target_host", "host id cleaned")
    wrap(hosts, "check", "KSC asked about the host")
    return calls


ONCE_EACH = {
    "right to file": 1,
    "limit before": 1,  # unlocked, before KSC is asked or an archive unpacked
    "limit": 2,  # that one, and the re-check under the row lock
    "params cleaned": 1,
    "host id cleaned": 1,
    "KSC asked about the host": 1,
}


def test_the_web_forms_file_step_checks_each_thing_once(client, alice, ksc_settings, counted):
    host_id = ksc_settings.host_id("SRV-SQL-01")
    sealed = seal(alice, Filing("isolateHost", host_id, "", {"action": 1}, "Beacon (ALERT-7).", ""))
    sign_in(client, alice)
    counted.clear()

    response = client.post(reverse("responses:new"), {"step": "file", "sealed": sealed})

    assert response.status_code == 302, response.content
    assert ResponseRequest.objects.get().target_host_name == "SRV-SQL-01"
    assert dict(counted) == ONCE_EACH


def test_the_apis_post_checks_each_thing_once(api, alice, ksc_settings, counted):
    client = api(alice)
    counted.clear()

    response = client.post(REQUESTS, body(target_host=ksc_settings.host_id("SRV-SQL-01")), format="json")

    assert response.status_code == 201, response.content
    assert dict(counted) == ONCE_EACH


def test_a_direct_call_checks_each_thing_once(alice, ksc_settings, counted):
    filed = filing.file_request(
        user=alice,
        task="isolateHost",
        target_host=ksc_settings.host_id("SRV-SQL-01"),
        params={"action": 1},
        justification="contain",
        source=Source.API,
    )

    assert filed.request.target_host_name == "SRV-SQL-01" and not filed.duplicate
    assert dict(counted) == ONCE_EACH


def test_the_user_row_is_locked_once_and_the_limit_counted_again_under_it(postgres, alice, settings):
    settings.REQUEST_RATE_LIMIT = 10
    with CaptureQueriesContext(connection) as queries:
        filing.file_request(
            user=alice,
            task="isolateHost",
            target_host="h-1",
            params={"action": 1},
            justification="contain",
            host_check=lambda host_id: hosts.HostCheck(None, "KSC is down"),
        )
    sql = [query["sql"] for query in queries.captured_queries]
    locks = [i for i, text in enumerate(sql) if "FOR UPDATE" in text and '"auth_user"' in text]
    counts = [i for i, text in enumerate(sql) if text.startswith("SELECT COUNT(*)") and "responses_responserequest" in text]
    assert len(locks) == 1, sql
    assert len(counts) == 2 and counts[0] < locks[0] < counts[1]  # once before the lock, once under it


def test_the_re_check_under_the_lock_refuses_what_filed_meanwhile_used_up(alice, settings):
    """Admitted at the limit minus one, then another filing of the same user lands first: refused under the lock."""
    settings.REQUEST_RATE_LIMIT = 1
    admission = filing.admit(alice)
    known = lambda host_id: hosts.HostCheck(None, "unchecked in this test")  # noqa: E731
    fields = {"task": "isolateHost", "target_host": "h-1", "params": {"action": 1}, "justification": "x"}
    filing.file_request(user=alice, host_check=known, **fields)  # the concurrent one

    with pytest.raises(RateLimited):
        filing.file_request(admission=admission, host_check=known, **{**fields, "target_host": "h-2"})
    assert ResponseRequest.objects.count() == 1


def test_an_admission_is_for_its_user_only_and_comes_from_admit(alice, frank):
    fields = {"task": "isolateHost", "target_host": "h-1", "params": {"action": 1}, "justification": "x"}
    with pytest.raises(ValueError, match="for this user"):
        filing.file_request(user=frank, admission=filing.admit(alice), **fields)
    with pytest.raises(ValueError, match="comes from filing.admit"):
        filing.file_request(admission=filing.Admission(frank), **fields)
    assert not ResponseRequest.objects.exists()


def test_who_may_not_file_is_refused_before_anything_is_asked(bob, counted):
    with pytest.raises(NotAllowed) as refused:
        filing.file_request(user=bob, task="isolateHost", target_host="h-1", params={"action": 1}, justification="x")
    assert str(refused.value.message) == policy.may(bob, policy.FILE).reason  # the policy's own words
    assert counted["KSC asked about the host"] == counted["params cleaned"] == 0
    assert not ResponseRequest.objects.exists()


def test_there_is_one_public_file_request_and_the_workflow_only_creates_the_row():
    defined = []
    for path in sorted((ROOT / "responses").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined += [str(path.relative_to(ROOT)) for node in tree.body if getattr(node, "name", "") == "file_request"]
    assert defined == ["responses/filing.py"]
    assert not hasattr(workflow, "file_request") and not hasattr(workflow, "check_filing_limit")
