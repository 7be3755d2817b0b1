"""``rr|outcome``: the outcome on the host for pages (responses.outcomes.outcome_of); None before SUBMITTED.

A filter rather than a model property: the models must not import responses.outcomes
(which imports the models), tests/test_import_cycles.py.
"""

from __future__ import annotations

from django import template

from responses.models import ResponseRequest
from responses.outcomes import OutcomeView, outcome_of

register = template.Library()


@register.filter
def outcome(rr: ResponseRequest) -> OutcomeView | None:
    return outcome_of(rr)
