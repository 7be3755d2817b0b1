"""Naming a request in pages that only know its id (the step-up page guards an action on one)."""

from __future__ import annotations

from typing import Any

from django import template

from responses import workflow
from responses.models import ResponseRequest

register = template.Library()


@register.simple_tag
def visible_request(user: Any, key: Any) -> ResponseRequest | None:
    """The request with this id if ``user`` may see it (workflow.visible_requests), else None."""
    if not key or not getattr(user, "is_authenticated", False):
        return None
    return workflow.visible_requests(user).filter(uuid=key).first()
