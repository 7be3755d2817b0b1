"""The API's JSON parser: DRF's, with a bound on how deeply a body may nest.

Python's json module recurses once per level of nesting: a body of 100,000 "[" (100 KB,
well under the upload limit) raised RecursionError, a 500 and a stack trace in the log.
Such a body is bad input like any other: 400 in the API's error shape (responses/api/errors.py).
No request the portal takes nests deeper than a few levels (a task's params), so
MAX_DEPTH leaves ample room while keeping whatever reads the data later off the stack's edge.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32  # levels of objects and arrays; the top-level object is level 1


def nesting_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` holds objects or arrays more than ``limit`` levels deep (iterative: no recursion)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        too_deep = _("The JSON body is nested too deeply: at most %(levels)d levels of objects and arrays.") % {
            "levels": MAX_DEPTH
        }
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(too_deep) from None
        if nesting_exceeds(data, MAX_DEPTH):
            raise ParseError(too_deep)
        return data
