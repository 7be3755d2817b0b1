"""Twenty people act on one request at once: exactly one consistent outcome, exactly one enqueue.

Needs PostgreSQL: SQLite serialises writers by locking the whole file, so it
cannot show what the row lock and the conditional UPDATE guard against.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection, connections

from accounts import roles
from responses import workflow
from responses.models import Decision, EventKind, ResponseRequest, Status
from tests.support.filing import file_request

HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"


def _approver(name: str) -> User:
    user = User.objects.create_user(name, password="x" * 16)
    user.groups.add(Group.objects.get_or_create(name=roles.APPROVERS)[0])
    return user


@pytest.mark.parametrize("approvals_required", [1, 2])
@pytest.mark.parametrize("round_", range(3))
def test_it_ends_in_one_state_with_one_enqueue(
    postgres, transactional_db, settings, alice, ksc_queue, approvals_required, round_
):
    settings.APPROVALS_REQUIRED_BY_TASK = {"isolateHost": approvals_required}
    approvers = [_approver(f"approver{i}") for i in range(12)]
    request = file_request(
        user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="contain"
    )
    # 12 approvals, 5 rejections (from approvers too), 3 cancellations by the requester, all at once.
    actions = [("approve", user) for user in approvers]
    actions += [("reject", user) for user in approvers[:5]]
    actions += [("cancel", alice)] * 3
    # rotate so that different kinds of action reach the barrier first in each round
    actions = actions[round_ * 7 % len(actions) :] + actions[: round_ * 7 % len(actions)]
    assert len(actions) == 20
    barrier = threading.Barrier(len(actions))
    outcomes: list[str] = []
    lock = threading.Lock()

    def act(kind: str, user: User) -> None:
        try:
            barrier.wait(timeout=10)
            if kind == "approve":
                workflow.approve(request.uuid, user=user)
            elif kind == "reject":
                workflow.reject(request.uuid, user=user, comment="no")
            else:
                workflow.cancel(request.uuid, user=user)
            result = f"{kind}:ok"
        except workflow.WorkflowError as exc:
            result = f"{kind}:{exc.__class__.__name__}"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=act, args=action) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 20, outcomes
    connection.close()

    request.refresh_from_db()
    tally = Counter(outcomes)
    events = Counter(request.events.values_list("kind", flat=True))
    assert all(o.endswith((":ok", ":WrongStatus", ":NotAllowed")) for o in outcomes), outcomes
    if request.status == Status.QUEUED:
        # approved: exactly the required approvals succeeded, one job in Redis, one QUEUED event
        assert tally["approve:ok"] == approvals_required
        assert tally["reject:ok"] == tally["cancel:ok"] == 0
        assert Decision.objects.filter(request=request, decision="approve").count() == approvals_required
        assert ksc_queue.job_ids == [str(request.uuid)]
        assert events[EventKind.APPROVED] == 1 and events[EventKind.QUEUED] == 1
    elif request.status == Status.REJECTED:
        assert tally["reject:ok"] == 1 and tally["cancel:ok"] == 0
        assert tally["approve:ok"] < approvals_required
        assert ksc_queue.count == 0
        assert events[EventKind.REJECTED] == 1 and events[EventKind.APPROVED] == 0
    else:
        assert request.status == Status.CANCELLED, request.status
        assert tally["cancel:ok"] == 1 and tally["reject:ok"] == 0
        assert tally["approve:ok"] < approvals_required
        assert ksc_queue.count == 0
        assert events[EventKind.CANCELLED] == 1 and events[EventKind.APPROVED] == 0
    # every refusal was a clean refusal, and the trail has one event per successful action (+ filed, queued)
    successes = sum(count for outcome, count in tally.items() if outcome.endswith(":ok"))
    assert sum(events.values()) == 1 + successes + (1 if request.status == Status.QUEUED else 0)
    assert ResponseRequest.objects.count() == 1
