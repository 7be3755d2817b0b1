"""The API of an isolation's end: "Isolated now", and Release now, Hold, Extend and an extension's decision.

Thin like the rest of the API: parse, call responses.isolation (which asks responses.policy), answer.
Refusals map to HTTP in responses.api.errors (400 with field messages, 403, 404, 409).
"""

from __future__ import annotations

import uuid as uuid_module
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from responses import isolation, policy, workflow
from responses.api.views import REQUEST_ID, _errors, parse_object
from responses.models import IsolationExtension, ResponseRequest

EXTENSION_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The extension's id.")


def _row_of(request: Request, key: Any):
    try:
        key = uuid_module.UUID(str(key))
    except ValueError:
        raise ResponseRequest.DoesNotExist from None
    rr = workflow.get_for_user(request.user, key)
    row = isolation.isolation_of(rr)
    if row is None:
        raise workflow.WrongStatus("This request is no isolation with an end the portal keeps.")
    return row


def schedule_data(row, user, token=None) -> dict[str, Any]:
    """An isolation's schedule as the API answers it."""
    pending = isolation.pending_extension(row)
    return {
        "isolation_request": str(row.request.uuid),
        "release_request": str(row.release.uuid) if row.release_id else None,
        "host_id": row.host_id,
        "host_name": row.host_name,
        "state": row.state,
        "ends_by": "kes_policy" if row.kind == "ioc_scan" else ("until_released" if row.until_released else "release"),
        "since": row.since.isoformat() if row.since else None,
        "release_at": row.release_at.isoformat() if row.release_at and not row.until_released else None,
        "held_by": row.held_by or None,
        "until_released_reason": row.until_released_reason or None,
        "pending_extension": {
            "id": str(pending.uuid),
            "release_at": pending.release_at.isoformat(),
            "requester": pending.requester_username,
            "approvals_required": pending.approvals_required,
        }
        if pending
        else None,
        "actions": policy.isolation_actions(user, row, token=token),
    }


class PendingExtensionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    release_at = serializers.DateTimeField()
    requester = serializers.CharField()
    approvals_required = serializers.IntegerField()


class ScheduleSerializer(serializers.Serializer):
    """An isolation's schedule (responses/isolation.py)."""

    isolation_request = serializers.UUIDField()
    release_request = serializers.UUIDField(allow_null=True)
    host_id = serializers.CharField()
    host_name = serializers.CharField(allow_blank=True)
    state = serializers.ChoiceField(choices=["awaiting", "active", "releasing", "released", "superseded", "failed"])
    ends_by = serializers.ChoiceField(choices=["release", "until_released", "kes_policy"])
    since = serializers.DateTimeField(allow_null=True)
    release_at = serializers.DateTimeField(allow_null=True)
    held_by = serializers.CharField(allow_null=True)
    until_released_reason = serializers.CharField(allow_null=True)
    pending_extension = PendingExtensionSerializer(allow_null=True)
    actions = serializers.ListField(child=serializers.ChoiceField(choices=list(policy.ISOLATION_ACTIONS)))


class ExtensionAnswerSerializer(ScheduleSerializer):
    extension = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["pending", "approved", "rejected", "cancelled", "expired"])


class IsolatedListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = ScheduleSerializer(many=True)


class CommentBody(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True)


class HoldBody(serializers.Serializer):
    reason = serializers.CharField()


class ExtendBody(serializers.Serializer):
    isolate_hours = serializers.FloatField(required=False)
    isolate_until = serializers.DateTimeField(required=False)
    time_zone = serializers.CharField(required=False)
    justification = serializers.CharField()


class IsolatedNowView(APIView):
    @extend_schema(
        summary="Hosts isolated now by the portal's records, soonest end first",
        responses={200: IsolatedListSerializer, **_errors(401, 403)},
    )
    def get(self, request: Request) -> Response:
        if not policy.may_see_hosts(request.user):
            raise workflow.NotAllowed("Only analysts, approvers and auditors see isolated hosts.")
        rows = isolation.isolated_now(request.user)
        return Response({"count": len(rows), "results": [schedule_data(item.isolation, request.user, request.auth) for item in rows]})


class ScheduleView(APIView):
    @extend_schema(
        summary="An isolation's schedule (by the isolation's or its release's id)",
        parameters=[REQUEST_ID],
        responses={200: ScheduleSerializer, **_errors(401, 404, 409)},
    )
    def get(self, request: Request, id: str) -> Response:
        return Response(schedule_data(_row_of(request, id), request.user, request.auth))


class ReleaseNowView(APIView):
    FIELDS = ("comment",)

    @extend_schema(
        summary="Release an isolated host now, on the approval given with the isolation",
        request=CommentBody,
        parameters=[REQUEST_ID],
        responses={200: ScheduleSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, id: str) -> Response:
        row = _row_of(request, id)
        data = parse_object(request, self.FIELDS)
        row = isolation.release_now(row, user=request.user, comment=data.get("comment", ""), token=request.auth)
        return Response(schedule_data(row, request.user, request.auth))


class HoldView(APIView):
    FIELDS = ("reason",)

    @extend_schema(
        summary="Hold an isolation past its end (until released); a decision: needs a decisions token",
        request=HoldBody,
        parameters=[REQUEST_ID],
        responses={200: ScheduleSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, id: str) -> Response:
        row = _row_of(request, id)
        data = parse_object(request, self.FIELDS)
        row = isolation.hold(row, user=request.user, reason=data.get("reason"), token=request.auth)
        return Response(schedule_data(row, request.user, request.auth))


class ExtendView(APIView):
    FIELDS = ("isolate_hours", "isolate_until", "time_zone", "justification")

    @extend_schema(
        summary="Ask for a new end (isolate_hours more, or isolate_until); approved like the isolation",
        request=ExtendBody,
        parameters=[REQUEST_ID],
        responses={201: ExtensionAnswerSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, id: str) -> Response:
        row = _row_of(request, id)
        data = parse_object(request, self.FIELDS)
        end = {key: data[key] for key in ("isolate_hours", "isolate_until", "time_zone") if key in data}
        extension = isolation.extend(row, user=request.user, data=end, justification=data.get("justification"), token=request.auth)
        row.refresh_from_db()
        return Response({"extension": str(extension.uuid), "status": extension.status, **schedule_data(row, request.user, request.auth)}, status=201)


class DecideExtensionView(APIView):
    FIELDS = ("comment",)
    approve = True

    @extend_schema(
        summary="Approve or reject an isolation's extension (decisions token)",
        request=CommentBody,
        parameters=[EXTENSION_ID],
        responses={200: ExtensionAnswerSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, id: str) -> Response:
        try:
            extension = IsolationExtension.objects.select_related("isolation__request").get(uuid=uuid_module.UUID(str(id)))
        except (ValueError, IsolationExtension.DoesNotExist):
            raise ResponseRequest.DoesNotExist from None
        if not policy.may(request.user, policy.VIEW, extension.isolation.request):
            raise ResponseRequest.DoesNotExist
        data = parse_object(request, self.FIELDS)
        extension = isolation.decide_extension(
            extension, user=request.user, approve=self.approve, comment=data.get("comment", ""), token=request.auth
        )
        row = isolation.isolation_of(extension.isolation.request)
        return Response({"extension": str(extension.uuid), "status": extension.status, **schedule_data(row, request.user, request.auth)})


class RejectExtensionView(DecideExtensionView):
    approve = False
