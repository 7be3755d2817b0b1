"""responses/approvals.py: the two-person rule over anything that needs N approvals (issue 25, point 6).

Nothing here is a ResponseRequest: a plain object with the few attributes the rule reads stands
for "a thing that needs N approvals" (tomorrow a campaign, a parent of many requests), which is
what lets such a parent reuse the rule unchanged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace

from responses import approvals, policy

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@dataclass
class Campaign:
    requester_id: int | None = 1
    requester_username: str = "alice"
    approvals_required: int = 2
    expires_at: dt.datetime | None = None
    fingerprint: str = "f" * 64


def approval(approver_id, username, *, decision=approvals.APPROVED, fingerprint="f" * 64):
    return SimpleNamespace(approver_id=approver_id, approver_username=username, decision=decision, fingerprint=fingerprint)


def person(pk, username):
    return SimpleNamespace(pk=pk, get_username=lambda: username)


def test_it_counts_distinct_living_people_other_than_the_requester():
    thing = Campaign()
    decisions = [
        approval(2, "bob"),
        approval(2, "bob-renamed"),  # one person under two names
        approval(None, "bob"),  # a cleared or deleted approver: nobody
        approval(1, "alice"),  # the requester
        approval(3, "carol", fingerprint="0" * 64),  # on other content
        approval(4, "dave", decision=approvals.REJECTED),
    ]
    assert approvals.approving_people(thing, decisions) == {2: "bob"}
    assert not approvals.is_approved_by(thing, decisions)
    assert approvals.is_approved_by(thing, [*decisions, approval(3, "carol")])


def test_who_is_the_requester_and_who_already_decided():
    thing = Campaign()
    assert approvals.is_requester(person(1, "alice"), thing)
    assert not approvals.is_requester(person(2, "bob"), thing)
    gone = Campaign(requester_id=None)
    assert not approvals.is_requester(person(9, "alice"), gone)
    assert approvals.is_requester(person(9, "alice"), gone, by_name_when_deleted=True)
    assert approvals.has_decided(person(2, "bob-renamed"), [approval(2, "bob")])
    assert not approvals.has_decided(person(2, "bob"), [approval(None, "bob")])


def test_the_approval_window(settings):
    settings.APPROVAL_TTL = 3600
    assert approvals.window_end(NOW, 0) is None
    end = approvals.window_end(NOW, 2)
    assert end == NOW + dt.timedelta(hours=1)
    assert not approvals.is_overdue(Campaign(expires_at=end), NOW)
    assert approvals.is_overdue(Campaign(expires_at=end), end)
    assert not approvals.is_overdue(Campaign(expires_at=None), NOW)


def test_the_step_up_guards_exactly_the_decisions_a_token_needs_a_scope_for():
    assert set(approvals.STEP_UP_ACTIONS) == policy.DECISIONS == {policy.APPROVE, policy.REJECT, policy.RETRY}


def test_the_proof():
    thing = Campaign()
    good = [approval(2, "bob"), approval(3, "carol")]
    assert approvals.proof_problems(thing, good, required_when_filed=2, approved_in_trail=True, filed_by="alice") == []
    assert approvals.proof_problems(thing, good, required_when_filed=2, approved_in_trail=False) == [
        "its trail holds no approval"
    ]
    lowered = Campaign(approvals_required=1)
    assert approvals.proof_problems(lowered, good[:1], required_when_filed=2, approved_in_trail=True) == [
        "it needs 1 approvals now but was filed needing 2",
        "it has 1 approvals by distinct people other than the requester, of 2",
    ]
    # the row names carol as the requester now, but alice filed it: alice's approval is the requester's
    swapped = Campaign(requester_id=3, requester_username="alice")
    assert approvals.proof_problems(
        swapped, [approval(1, "alice"), approval(2, "bob")], required_when_filed=2, approved_in_trail=True,
        filed_by="alice",
    ) == ["it has 1 approvals by distinct people other than the requester, of 2"]
