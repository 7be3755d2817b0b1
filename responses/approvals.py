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


def person_keys(user_ids: Iterable[int | None]) -> dict[int, tuple[str, int | str]]:
    """{user id: who they are as a person}, in one query (none when IDENTITY_LINK_ATTRIBUTE is not set).

    Accounts of one person in LDAP and OpenID Connect share the value of
    IDENTITY_LINK_ATTRIBUTE (accounts/identity_link.py): ("person", that value). Any other
    account is its own person: ("user", its id).
    """
    ids = [pk for pk in user_ids if pk is not None]
    people = {}
    if settings.IDENTITY_LINK_ATTRIBUTE and ids:
        from accounts.identity_link import linked_people

        people = linked_people(ids)
    return {pk: ("person", people[pk]) if pk in people else ("user", pk) for pk in ids}


def accounts_of(user_id: int) -> set[int]:
    """Every account id of ``user_id``'s person (only itself unless IDENTITY_LINK_ATTRIBUTE links accounts)."""
    if not settings.IDENTITY_LINK_ATTRIBUTE:
        return {user_id}
    from accounts.identity_link import accounts_of_person

    return accounts_of_person(user_id)


def same_person(first_id: int | None, second_id: int | None) -> bool:
    """Whether two accounts are one person: THE comparison of approver identities.

    By user id: renaming an account does not make it a second person, and a deleted
    account (its id gone, NULL on its rows) is nobody's. Accounts linked across
    directories by IDENTITY_LINK_ATTRIBUTE are one person.
    """
    if first_id is None or second_id is None:
        return False
    if first_id == second_id:
        return True
    if not settings.IDENTITY_LINK_ATTRIBUTE:
        return False
    keys = person_keys([first_id, second_id])
    return keys[first_id][0] == "person" and keys[first_id] == keys[second_id]


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
    """Whether ``user`` (or a linked account of the same person) already decided on the thing."""
    decisions = list(decisions)
    if any(decision.approver_id == user.pk for decision in decisions):
        return True
    if not settings.IDENTITY_LINK_ATTRIBUTE:
        return False
    keys = person_keys([user.pk, *(decision.approver_id for decision in decisions)])
    mine = keys[user.pk]
    return mine[0] == "person" and any(
        decision.approver_id is not None and keys[decision.approver_id] == mine for decision in decisions
    )


def approving_people(thing: NeedsApprovals, decisions: Iterable[Decided]) -> dict[int, str]:
    """{user id: username} of the distinct people whose approval counts; never the requester.

    Only approvals on the thing's current fingerprint count, and only by a user who still
    exists: a decision whose user was deleted (approver NULL) has nobody left to count as,
    so clearing approver ids can never make one person count twice.
    """
    decisions = [d for d in decisions if d.decision == APPROVED and d.fingerprint == thing.fingerprint]
    keys = person_keys([thing.requester_id, *(d.approver_id for d in decisions)])
    requester = keys.get(thing.requester_id) if thing.requester_id is not None else None
    people: dict[int, str] = {}
    counted: set = set()
    for decision in decisions:
        approver = decision.approver_id
        if approver is None or keys[approver] == requester or keys[approver] in counted:
            continue
        counted.add(keys[approver])
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
