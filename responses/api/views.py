"""The REST API's views: parse, authorize with policy.may, call the workflow, render.

No rule about who may do what lives here: filing, approving, rejecting,
cancelling and retrying are decided by responses.policy (the same function
as the web UI's), and a request the user may not see is a 404, never a 403,
so that its existence is not revealed.
"""

from __future__ import annotations

import json
import uuid as uuid_module
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from responses import catalog, filing, hosts, isolation, policy, throttle, workflow
from responses.api import idempotency
from responses.api.errors import NON_FIELD, error_response
from responses.api.serializers import (
    DecisionSerializer,
    HostQuerySerializer,
    KscHostSerializer,
    NewResponseRequestSerializer,
    ResponseRequestDetailSerializer,
    ResponseRequestSerializer,
    TaskTypeSerializer,
)
from responses.filtersets import RequestFilterSet
from responses.models import ResponseRequest, Source
from responses.paging import COUNT_LIMIT, BoundedPaginator


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Why, in words a SOC analyst understands.")
    code = serializers.CharField(help_text="What kind of error: invalid, not_authenticated, permission_denied...")
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="On 400: each refused field's messages; a task's params nested under params.",
    )


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    described = {
        400: "Bad input: the detail says why, errors says which field.",
        401: "No valid token: send Authorization: Token <key>.",
        403: "This user may not do this; the detail says why.",
        404: "No such request, or not one this user may see.",
        409: "The request's status does not allow this; the detail says why.",
        422: "This Idempotency-Key was used for a different request.",
        429: "Over a rate limit (filing: REQUEST_RATE_LIMIT; host search: HOST_SEARCH_RATE_LIMIT); "
        "the detail says when to try again.",
        502: "KSC answered, but refused the portal or answered something unusable; the detail says what.",
        503: "KSC could not be reached (or is not configured); try again later.",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=described[code]) for code in codes}


IDEMPOTENCY_KEY = OpenApiParameter(
    idempotency.HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (a UUID is a good key). A retried call with the same key within 24 hours "
        "returns the first call's answer instead of acting twice."
    ),
)
REQUEST_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The request's id.")


def parse_object(request: Request, fields: tuple[str, ...]) -> dict[str, Any]:
    """The JSON body as a dict; anything but an object, or a field not in ``fields``, is a 400."""
    data = request.data
    if not isinstance(data, dict):
        raise serializers.ValidationError({NON_FIELD: [_("Send a JSON object.")]})
    unknown = sorted(set(data) - set(fields))
    if unknown:
        message = _("Unknown field; this endpoint takes: %(fields)s.") % {"fields": ", ".join(fields)}
        raise serializers.ValidationError({name: [message] for name in unknown})
    return data


class RequestPagination(PageNumberPagination):
    """Pages whose count stops at paging.COUNT_LIMIT: ``count_is_exact`` is false when more match."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = BoundedPaginator

    def get_paginated_response(self, data) -> Response:
        response = super().get_paginated_response(data)
        response.data["count_is_exact"] = self.page.paginator.count_is_exact
        return response

    def get_paginated_response_schema(self, schema: dict) -> dict:
        described = super().get_paginated_response_schema(schema)
        described["properties"]["count"]["description"] = (
            f"Matching requests, counted up to {COUNT_LIMIT:,}; past that, count stays at {COUNT_LIMIT:,} "
            "and count_is_exact is false (narrow the filters, e.g. since/until, to reach older requests)."
        )
        described["properties"]["count_is_exact"] = {"type": "boolean", "example": True}
        described["required"].append("count_is_exact")
        return described


@extend_schema_view(
    list=extend_schema(
        summary="List requests",
        description="Analysts see their own requests; approvers and auditors see every request. Newest first.",
        responses={200: ResponseRequestSerializer(many=True), **_errors(400, 401, 404)},
    ),
    create=extend_schema(
        summary="File a request",
        description=(
            "Validated against the task catalog (GET /api/v1/tasks/). A task that needs approval waits for "
            "approvers (status pending_approval); one that does not is approved and queued for KSC at once. "
            "The host id is checked with KSC as the web form checks it: an id KSC does not know is a 400 "
            "naming target_host, and the request keeps KSC's display name for the host. When KSC cannot be "
            "asked, the request is filed with the host unchecked, and its filed event says why "
            "(detail.host_unchecked): approvers are told so."
        ),
        request=NewResponseRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: ResponseRequestDetailSerializer, **_errors(400, 401, 403, 422, 429)},
    ),
    retrieve=extend_schema(
        summary="A request, with its timeline and submission attempts",
        parameters=[REQUEST_ID],
        responses={200: ResponseRequestDetailSerializer, **_errors(401, 404)},
    ),
)
class ResponseRequestViewSet(viewsets.GenericViewSet):
    lookup_url_kwarg = "id"
    lookup_value_regex = "[^/]+"  # any text: what is not a UUID is a JSON 404, not Django's HTML one
    serializer_class = ResponseRequestSerializer
    pagination_class = RequestPagination
    # The same filters as the web list and its CSV export (responses/filtersets.py), documented from there.
    filter_backends = [DjangoFilterBackend]
    filterset_class = RequestFilterSet
    queryset = ResponseRequest.objects.none()  # for the schema; get_queryset() is what users get

    def get_queryset(self):
        return (
            ResponseRequest.objects.visible_to(self.request.user)
            .select_related("outcome", "isolation__release", "released_isolation")
            .prefetch_related("approvals")
        )

    def _guarded(self, act: Callable[[], Response]) -> Callable[[], Response]:
        # An idempotent call keeps its answer, errors included: turn them into responses here.
        def run() -> Response:
            try:
                return act()
            except Exception as exc:  # handle_exception re-raises what is not ours to answer (a 500)
                return self.handle_exception(exc)

        return run

    def _get(self, key: Any) -> ResponseRequest:
        try:
            key = uuid_module.UUID(str(key))
        except ValueError:
            raise ResponseRequest.DoesNotExist from None
        return workflow.get_for_user(self.request.user, key)

    def _detail(self, request: ResponseRequest) -> dict:
        request = (
            ResponseRequest.objects.filter(pk=request.pk)
            .select_related("outcome", "isolation__release", "released_isolation")
            .prefetch_related("approvals", "events", "submission_attempts")
            .get()
        )
        return ResponseRequestDetailSerializer(request, context=self.get_serializer_context()).data

    def list(self, request: Request) -> Response:
        requests = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(requests)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        def act() -> Response:
            # Admitted (the right to file, the filing limit) before the body is read: who may not file
            # learns nothing about it. The filing path asks no more.
            admission = filing.admit(request.user)
            data = parse_object(request, NewResponseRequestSerializer.FIELDS)
            # The web form's path: the host checked with KSC (an unknown id is a 400), KSC's name kept.
            filed = filing.file_request(
                admission=admission,
                task=data.get("task"),
                target_host=data.get("target_host"),
                params=data.get("params"),
                justification=data.get("justification"),
                external_ref=data.get("external_ref", ""),
                server=data.get("server"),
                source=Source.API,
                end={key: data[key] for key in isolation.END_FIELDS if key in data},
                override_reason=data.get("override_reason", ""),
            ).request
            return Response(self._detail(filed), status=status.HTTP_201_CREATED)

        return idempotency.run_once(request, self._guarded(act))

    def retrieve(self, request: Request, id: str) -> Response:
        return Response(self._detail(self._get(id)))

    def _decide(self, request: Request, key: str, what: str, transition: Callable[..., ResponseRequest]) -> Response:
        target = self._get(key)  # 404 first: who may not see the request learns nothing about it

        def act() -> Response:
            # Checked here (and again by the workflow, under the row lock) so that who may not
            # act is told so before anything about the body.
            policy.may(request.user, what, target, token=request.auth).enforce()
            data = parse_object(request, DecisionSerializer.FIELDS)
            decided = transition(target, user=request.user, comment=data.get("comment", ""))
            return Response(self._detail(decided))

        # A replayed key answers what the first call answered, even though the status has moved on.
        return idempotency.run_once(request, self._guarded(act))

    @extend_schema(
        summary="Approve a request",
        description=(
            "Another approver's approval; the request is approved once it has as many as it needs. "
            "Needs a token issued for decisions (create_api_token --scope decisions)."
        ),
        request=DecisionSerializer,
        parameters=[REQUEST_ID, IDEMPOTENCY_KEY],
        responses={200: ResponseRequestDetailSerializer, **_errors(400, 401, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, id: str) -> Response:
        return self._decide(request, id, policy.APPROVE, workflow.approve)

    @extend_schema(
        summary="Reject a request",
        description=(
            "One rejection rejects the request; the comment (why) is required. "
            "Needs a token issued for decisions (create_api_token --scope decisions)."
        ),
        request=DecisionSerializer,
        parameters=[REQUEST_ID, IDEMPOTENCY_KEY],
        responses={200: ResponseRequestDetailSerializer, **_errors(400, 401, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, id: str) -> Response:
        return self._decide(request, id, policy.REJECT, workflow.reject)

    @extend_schema(
        summary="Cancel your own request",
        description="The requester withdraws a request that is still pending approval.",
        request=DecisionSerializer,
        parameters=[REQUEST_ID, IDEMPOTENCY_KEY],
        responses={200: ResponseRequestDetailSerializer, **_errors(400, 401, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, id: str) -> Response:
        return self._decide(request, id, policy.CANCEL, workflow.cancel)

    @extend_schema(
        summary="Retry a failed request",
        description=(
            "An approver (not the requester) sends a failed request to KSC again. "
            "Needs a token issued for decisions (create_api_token --scope decisions)."
        ),
        request=DecisionSerializer,
        parameters=[REQUEST_ID, IDEMPOTENCY_KEY],
        responses={200: ResponseRequestDetailSerializer, **_errors(400, 401, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, id: str) -> Response:
        return self._decide(request, id, policy.RETRY, workflow.retry)


class HostSearchView(APIView):
    @extend_schema(
        summary="Find hosts in KSC",
        description=(
            "Hosts whose display name, FQDN, DNS or NetBIOS name contains q (any case; * ? [ taken literally), whose "
            "IPv4 address is q (a whole address; partial IPs find nothing), or whose KSC id is q, ordered by display "
            "name. A host's id is what target_host takes. For those who may file."
        ),
        parameters=[HostQuerySerializer],
        responses={200: KscHostSerializer(many=True), **_errors(400, 401, 403, 429, 502, 503)},
    )
    def get(self, request: Request) -> Response:
        policy.may(request.user, policy.FILE).enforce()  # who may file may look hosts up
        query = HostQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        throttle.count(request.user, throttle.HOST_SEARCH)  # RateLimited: 429 (errors.exception_handler)
        try:
            found = hosts.search_servers(
                request.user, query.validated_data["q"], limit=query.validated_data["limit"]
            )
        except ImproperlyConfigured as exc:
            return error_response(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                _("KSC is not configured, so hosts cannot be looked up: %(why)s") % {"why": exc},
                "ksc_not_configured",
            )
        if len(found.servers) == 1 and found.errors and not found.hosts:
            # One server, and it failed: KscError (unreachable: 503; refused, TLS, protocol: 502) is
            # answered by errors.exception_handler, as before several servers.
            raise next(iter(found.errors.values()))
        rows = [{"server": item.server, **item.host.__dict__} for item in found.hosts]
        response = Response(KscHostSerializer(rows, many=True).data)
        # Never fewer hosts silently: the servers and secondaries that did not answer are named.
        if found.failed_servers:
            response["KSC-Servers-Unanswered"] = ", ".join(name for name, _why in found.failed_servers)
        if found.failed_secondaries:
            response["KSC-Secondaries-Unanswered"] = json.dumps(
                [f"{server}/{secondary}" for server, secondary in found.failed_secondaries]
            )
        return response


class TaskCatalogView(APIView):
    @extend_schema(
        summary="The task catalog",
        description="Every task type: its params as JSON Schema, whether it needs approval and from how many.",
        responses={200: TaskTypeSerializer(many=True), **_errors(401)},
    )
    def get(self, request: Request) -> Response:
        return Response([TaskTypeSerializer.describe(task) for task in catalog.TASKS.values()])
