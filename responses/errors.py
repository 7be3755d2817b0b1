"""The workflow's refusals: typed, with a message an analyst understands.

Apart from responses.workflow so that responses.policy (which refuses with them)
and the workflow can both raise them without importing each other in a circle.
"""

from __future__ import annotations

from typing import Any


class WorkflowError(Exception):
    """A refused action; the message says why, in words an analyst understands."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAllowed(WorkflowError):
    """This user may not do this (HTTP 403)."""


class RateLimited(NotAllowed):
    """Over a limit that bounds the blast radius (HTTP 429); the message says when it lifts."""


class WrongStatus(WorkflowError):
    """The request's status (or this user's earlier decision) does not allow it (HTTP 409)."""


class ContentChanged(WrongStatus):
    """The task, host or parameters in the row are not what was approved (HTTP 409).

    Somebody changed the request in the database after the decision; sending it
    would act on something nobody approved. The request is FAILED instead.
    """


class NotApproved(WrongStatus):
    """The database says APPROVED, but the decisions and the trail do not prove it (HTTP 409).

    Somebody changed the status, the approvals required or a decision in the database;
    the request is FAILED instead of being sent.
    """


class InvalidRequest(WorkflowError):
    """What was filed is refused; ``errors`` maps field names to messages (HTTP 400)."""

    def __init__(self, errors: dict[str, Any]):
        super().__init__("; ".join(f"{key}: {value}" for key, value in errors.items()))
        self.errors = errors
