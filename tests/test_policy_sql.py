"""policy.decidable_filter is policy.may_decide written as SQL: the two must never disagree.

The menu's "waiting for me" count and the live JSON count in SQL (issue 24, point 3); the
request pages ask may_decide in Python. On varied data (the requester themselves, a deleted
requester with the approver's username, an approval already given, other statuses, a
request past its window, inactive and role-less users) both answer the same rows.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from accounts import roles
from notifications.context_processors import WAITING_COUNT_LIMIT, waiting_count, waiting_label
from responses import policy, workflow
from responses.models import ResponseRequest, Status
from tests.fixtures.accounts import make_user
from tests.fixtures.notifications import file
from tests.support.tampering import tamper_request


def python_rule(user) -> set[int]:
    """The answer of the Python policy over the queue: what the menu counted before."""
    queue = ResponseRequest.objects.awaiting_decision().prefetch_related("approvals")
    return {rr.pk for rr in queue if policy.may_decide(user, rr)}


def sql_rule(user) -> set[int]:
    return set(ResponseRequest.objects.awaiting_decision().decidable_by(user).values_list("pk", flat=True))


@pytest.fixture
def varied(settings, alice, frank, bob, carol, dave):
    """A queue with every case may_decide distinguishes."""
    settings.APPROVALS_REQUIRED = 2  # an approval leaves the request pending, waiting for a second person
    settings.REQUEST_RATE_LIMIT = 0
    erin = make_user("erin", roles.APPROVERS, roles.ANALYSTS)  # an approver who also files
    gone = make_user("gone", roles.ANALYSTS)
    sleepy = make_user("sleepy", roles.APPROVERS)
    plain = [file(alice, justification=f"plain {n}") for n in range(3)]
    by_erin = file(erin, justification="erin's own")
    approved_by_bob = file(frank, justification="bob approved it")
    workflow.approve(approved_by_bob, user=bob)
    approved_by_carol = file(alice, justification="carol approved it")
    workflow.approve(approved_by_carol, user=carol)
    rejected = file(alice, justification="rejected")
    workflow.reject(rejected, user=carol, comment="no")
    cancelled = file(alice, justification="cancelled")
    workflow.cancel(cancelled, user=alice)
    orphan = file(gone, justification="requester deleted")
    # A deleted requester's username, then reused by someone who approves: still their own request.
    by_old_erin = file(gone, justification="requester deleted, name now erin's")
    gone.delete()
    # (the requester's name is frozen at filing: changed here as the tables' owner could, triggers off)
    tamper_request("UPDATE responses_responserequest SET requester_username = %s WHERE id = %s", ["erin", by_old_erin.pk])
    past = file(alice, justification="past its window")
    ResponseRequest.objects.filter(pk=past.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    User.objects.filter(pk=sleepy.pk).update(is_active=False)
    return {
        "users": [alice, frank, bob, carol, dave, erin, User.objects.get(pk=sleepy.pk)],
        "rows": [*plain, by_erin, approved_by_bob, approved_by_carol, rejected, cancelled, orphan, by_old_erin, past],
    }


def test_the_sql_rule_answers_what_may_decide_answers_for_every_user(varied):
    bob, carol, erin = (User.objects.get(username=name) for name in ("bob", "carol", "erin"))
    for user in varied["users"]:
        user = User.objects.get(pk=user.pk)  # fresh role cache
        assert sql_rule(user) == python_rule(user), user.username
    rows = {rr.justification: rr.pk for rr in ResponseRequest.objects.all()}
    # Spelled out, so that the equality above is not two empty sets agreeing.
    assert rows["bob approved it"] not in sql_rule(bob) and rows["bob approved it"] in sql_rule(carol)
    assert rows["carol approved it"] in sql_rule(bob) and rows["carol approved it"] not in sql_rule(carol)
    assert rows["erin's own"] not in sql_rule(erin) and rows["erin's own"] in sql_rule(bob)
    assert rows["requester deleted, name now erin's"] not in sql_rule(erin)
    assert rows["requester deleted"] in sql_rule(erin)
    for gone in ("rejected", "cancelled", "past its window"):
        assert rows[gone] not in sql_rule(bob)
    assert len(sql_rule(bob)) == 7


def test_who_decides_nothing_gets_no_rows_and_no_query(varied, django_assert_num_queries):
    for name in ("alice", "dave", "sleepy"):
        user = User.objects.get(username=name)
        policy.prime_roles([user])
        assert policy.decidable_filter(user) is None
        with django_assert_num_queries(0):
            assert waiting_count(user) == 0
            assert list(ResponseRequest.objects.decidable_by(user)) == []


def test_the_count_is_one_query_and_stops_past_its_limit(settings, alice, bob, django_assert_num_queries):
    settings.REQUEST_RATE_LIMIT = 0
    for n in range(WAITING_COUNT_LIMIT + 3):
        file(alice, justification=f"flood {n}")
    bob = User.objects.get(pk=bob.pk)
    policy.prime_roles([bob])
    with django_assert_num_queries(1):
        count = waiting_count(bob)
    assert count == WAITING_COUNT_LIMIT + 1 and waiting_label(count) == f"{WAITING_COUNT_LIMIT}+"
    assert waiting_label(WAITING_COUNT_LIMIT) == str(WAITING_COUNT_LIMIT) and waiting_label(0) == ""
    assert ResponseRequest.objects.filter(status=Status.PENDING_APPROVAL).count() == WAITING_COUNT_LIMIT + 3


def test_the_menu_and_the_live_json_say_99_plus_past_the_limit(client, login, settings, alice, bob):
    settings.REQUEST_RATE_LIMIT = 0
    for n in range(WAITING_COUNT_LIMIT + 1):
        file(alice, justification=f"flood {n}")
    login(client, bob)
    html = client.get("/requests/").content.decode()
    assert f'title="Requests waiting for your decision">{WAITING_COUNT_LIMIT}+</span>' in html
    data = client.get("/notifications/live.json").json()
    assert data["waiting"] == WAITING_COUNT_LIMIT + 1 and data["waiting_label"] == f"{WAITING_COUNT_LIMIT}+"
    assert data["queue"].startswith(f"{WAITING_COUNT_LIMIT + 1}:")
