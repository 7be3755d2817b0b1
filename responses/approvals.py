"""Decisions apart from the request row: the two-person rule over "a thing that needs N approvals".

A response request is one such thing today; a parent of many requests (a campaign) is the
next. Nothing here reads a request's columns beyond what ``NeedsApprovals`` names, and nothing
imports the models (they ask responses.policy, which asks this module):

- ``same_person``: the one place where two approvers' identities are compared (by user id
  today; linked accounts across directories plug in here);
- ``is_requester``, ``has_decided``, ``approving_people``: who may not decide, who already
  did, who counts;
- ``is_overdue``, ``window_end``: the approval window;
- ``STEP_UP_ACTIONS``: the decisions a browser session confirms with a fresh step-up;
- ``proof_problems``: the approvals proven again where it matters (at claim and at retry,
  under the row lock): distinct non-null approvers, none the requester, each on the thing's
  fingerprint, at least the number required when it was filed, and the approval in the trail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Protocol

from django.conf import settings

from responses.states import APPROVE, REJECT, RETRY

# What a browser session decides only after a fresh step-up (accounts.stepup); an API token
# decides only when issued for decisions (responses.policy).
STEP_UP_ACTIONS = (APPROVE, REJECT, RETRY)

# Decision.decision's values (responses.models.DecisionKind), as plain strings.
APPROVED = "approve"
REJECTED = "reject"


class Decided(Protocol):
    """One approver's decision, as this module reads it (responses.models.Decision)."""

    approver_id: int | None
    approver_username: str
    decision: str
    fingerprint: str


class NeedsApprovals(Protocol):
    """A thing that needs N approvals from people other than whoever asked for it."""

    requester_id: int | None
    requester_username: str
    approvals_required: int
    expires_at: dt.datetime | None
    fingerprint: str


def same_person(first_id: int | None, second_id: int | None) -> bool:
    """Whether two accounts are one person: THE comparison of approver identities.

    By user id: renaming an account does not make it a second person, and a deleted
    account (its id gone, NULL on its rows) is nobody's. Linking accounts of one person
    across directories (LDAP, OpenID Connect) changes this function and nothing else.
    """
    return first_id is not None and second_id is not None and first_id == second_id


def is_requester(user, thing: NeedsApprovals, *, by_name_when_deleted: bool = False) -> bool:
    """Whether ``user`` asked for ``thing``.

    ``by_name_when_deleted``: when the requester's account is gone, its username is all
    that is left of them; a decision compares it too (someone re-created under that name
    must not decide on "their" request).
    """
    if same_person(thing.requester_id, user.pk):
        return True
    return by_name_when_deleted and thing.requester_id is None and user.get_username() == thing.requester_username


def has_decided(user, decisions: Iterable[Decided]) -> bool:
    """Whether ``user`` already decided (approved or rejected) on the thing these decisions are of."""
    return any(same_person(decision.approver_id, user.pk) for decision in decisions)


def approving_people(thing: NeedsApprovals, decisions: Iterable[Decided]) -> dict[int, str]:
    """{user id: username} of the distinct people whose approval counts; never the requester.

    Only approvals on the thing's current fingerprint count, and only by a user who still
    exists: a decision whose user was deleted (approver NULL) has nobody left to count as,
    so clearing approver ids can never make one person count twice.
    """
    people: dict[int, str] = {}
    for decision in decisions:
        if decision.decision != APPROVED or decision.fingerprint != thing.fingerprint:
            continue
        approver = decision.approver_id
        if approver is None or same_person(approver, thing.requester_id):
            continue
        if not any(same_person(approver, known) for known in people):
            people[approver] = decision.approver_username
    return people


def is_approved_by(thing: NeedsApprovals, decisions: Iterable[Decided]) -> bool:
    """Whether these decisions are enough approvals for the thing."""
    return len(approving_people(thing, decisions)) >= thing.approvals_required


def window_end(filed_at: dt.datetime, approvals_required: int) -> dt.datetime | None:
    """When the approval window of a thing filed at ``filed_at`` closes (None: it needs no approval)."""
    return filed_at + dt.timedelta(seconds=settings.APPROVAL_TTL) if approvals_required else None


def is_overdue(thing: NeedsApprovals, now: dt.datetime) -> bool:
    """Whether the thing's approval window has passed (it can only expire now)."""
    return thing.expires_at is not None and thing.expires_at <= now


def proof_problems(
    thing: NeedsApprovals,
    decisions: Iterable[Decided],
    *,
    required_when_filed: int | None,
    approved_in_trail: bool,
    filed_by: str | None = None,
) -> list[str]:
    """Why the thing's approvals do not hold (an empty list: they do).

    ``required_when_filed``: the number of approvals the (keyed) trail says it was filed
    with; ``approved_in_trail``: whether its trail holds the approval (the ``approved``
    event); ``filed_by``: the username the trail says filed it (a decision under that name
    is the requester's, whatever requester id the row holds now). Whoever can write the tables but not the trail cannot fake either, so a status
    set to APPROVED by hand, a required count lowered, or a decision re-attributed shows.
    Words for the trail and logs (English; the caller writes them).
    """
    decisions = list(decisions)
    problems = []
    if filed_by is not None and filed_by != thing.requester_username:
        problems.append(f"its requester is {thing.requester_username!r} now but {filed_by!r} filed it")
    if filed_by is not None:
        # the requester as filed: a decision under their name never counts
        decisions = [d for d in decisions if not (d.decision == APPROVED and d.approver_username == filed_by)]
    if required_when_filed is None:
        problems.append("its trail does not say how many approvals it was filed with")
    elif required_when_filed != thing.approvals_required:
        problems.append(
            f"it needs {thing.approvals_required} approvals now but was filed needing {required_when_filed}"
        )
    required = max(thing.approvals_required, required_when_filed or 0)
    people = approving_people(thing, decisions)
    if len(people) < required:
        problems.append(f"it has {len(people)} approvals by distinct people other than the requester, of {required}")
    if any(
        decision.decision == APPROVED and same_person(decision.approver_id, thing.requester_id) for decision in decisions
    ):
        problems.append("its requester approved it")
    if any(decision.decision == REJECTED for decision in decisions):
        problems.append("it was rejected")
    if not approved_in_trail:
        problems.append("its trail holds no approval")
    return problems
