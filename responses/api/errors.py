"""Every API error has one shape: ``{"detail": <why>, "code": <what>, "errors"?: <per field>}``.

``detail`` is a sentence a SOC analyst (or a SIEM's log) can show as it is;
``errors`` appears on 400s and maps each refused field to its messages, with a
task's params nested under ``params`` and keyed by param name.

The workflow's exceptions map to HTTP here, once: InvalidRequest → 400,
NotAllowed → 403, WrongStatus → 409, a request that does not exist or may not
be seen → 404; KSC's: unreachable → 503, refusing or garbled → 502.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ksc_client.errors import KscError, KscUnavailable
from responses import workflow
from responses.models import ResponseRequest

NON_FIELD = "non_field_errors"


def error_response(
    http_status: int, detail: str, code: str, errors: dict | None = None, headers: dict | None = None
) -> Response:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    return Response(body, status=http_status, headers=headers)


def field_errors(errors: dict[str, Any]) -> dict[str, Any]:
    """The workflow's errors for the API: params' whole-object errors ("" in the catalog) get a name."""
    shaped: dict[str, Any] = {}
    for field, messages in errors.items():
        if field == "params" and isinstance(messages, dict):
            shaped[field] = {key or NON_FIELD: [str(m) for m in msgs] for key, msgs in messages.items()}
        elif isinstance(messages, dict):
            shaped[field or NON_FIELD] = field_errors(messages)
        elif isinstance(messages, list | tuple):
            shaped[field or NON_FIELD] = [str(m) for m in messages]
        else:
            shaped[field or NON_FIELD] = [str(messages)]
    return shaped


def _sentences(errors: dict[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for field, messages in errors.items():
        name = f"{prefix}.{field}" if prefix and not field.startswith("[") else f"{prefix}{field}"
        if field == NON_FIELD:
            name = prefix
        if isinstance(messages, dict):
            lines.extend(_sentences(messages, name))
        else:
            lines.extend(f"{name}: {message}" if name else str(message) for message in messages)
    return lines


def invalid(errors: dict[str, Any]) -> Response:
    shaped = field_errors(errors)
    detail = _("The request was refused: %(errors)s") % {"errors": " ".join(_sentences(shaped))}
    return error_response(status.HTTP_400_BAD_REQUEST, detail, "invalid", shaped)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, workflow.InvalidRequest):
        return invalid(exc.errors)
    if isinstance(exc, workflow.RateLimited):
        return error_response(status.HTTP_429_TOO_MANY_REQUESTS, exc.message, "rate_limited")
    if isinstance(exc, workflow.NotAllowed):
        return error_response(status.HTTP_403_FORBIDDEN, exc.message, "permission_denied")
    if isinstance(exc, workflow.WrongStatus):
        return error_response(status.HTTP_409_CONFLICT, exc.message, "wrong_status")
    if isinstance(exc, KscUnavailable):
        return error_response(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), "ksc_unavailable")
    if isinstance(exc, KscError):
        # KSC answered but refused us (account, TLS) or answered nonsense: not the client's fault, not ours.
        return error_response(status.HTTP_502_BAD_GATEWAY, str(exc), f"ksc_{exc.kind}")
    if isinstance(exc, ResponseRequest.DoesNotExist):
        return error_response(
            status.HTTP_404_NOT_FOUND, _("No request with this id, or not one you may see."), "not_found"
        )
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {NON_FIELD: exc.detail}
        return invalid(detail)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        # A body that is not JSON is bad input like any other (400), whatever it claims to be.
        return error_response(
            status.HTTP_400_BAD_REQUEST,
            _("Send a JSON body with Content-Type: application/json."),
            "unsupported_media_type",
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: a 500, logged by Django
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail if isinstance(exc.detail, str) else response.data
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        response.data = {"detail": str(detail), "code": code}
    return response
