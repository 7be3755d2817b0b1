"""The campaigns' REST API: file (with Idempotency-Key), read, list hosts, decide, pause, resume, abort, reverse.

Thin like the requests' API (responses/api/views.py): the same token authentication, error
shapes and idempotency; who may do what is responses.policy.may_campaign's; a campaign the
user may not see is a 404.
"""

from __future__ import annotations

import uuid as uuid_module
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import filing
from campaigns import workflow as campaign_workflow
from campaigns.api_schema import (
    CAMPAIGN_ID,
    HOST_FILTERS,
    TAG,
    CampaignHostPageSerializer,
    CampaignSerializer,
    DecisionCommentSerializer,
    NewCampaignSerializer,
    errors,
)
from campaigns.models import Campaign
from campaigns.views import host_rows, summary
from responses import policy
from responses.api import idempotency
from responses.api.errors import error_response
from responses.api.views import IDEMPOTENCY_KEY, parse_object
from responses.models import Source, outcome_of

FILE_FIELDS = (
    "task",
    "params",
    "hosts",
    "group",
    "subgroups",
    "server",
    "justification",
    "external_ref",
    "break_glass",
    "override_reason",
)
DECISION_FIELDS = ("comment",)


def _not_found() -> Response:
    return error_response(
        status.HTTP_404_NOT_FOUND, _("No campaign with this id, or not one you may see."), "not_found"
    )


def _get(user, key: Any) -> Campaign | None:
    try:
        return campaign_workflow.get_for_user(user, uuid_module.UUID(str(key)))
    except (Campaign.DoesNotExist, ValueError):
        return None


def campaign_data(campaign: Campaign) -> dict[str, Any]:
    facts = summary(campaign)
    excluded = list(campaign.hosts.exclude(excluded_reason="").values("host_id", "display_name", "excluded_reason"))
    return {
        "id": str(campaign.uuid),
        "status": campaign.status,
        "task": campaign.task,
        "params": campaign.params,
        "server": campaign.server,
        "justification": campaign.justification,
        "external_ref": campaign.external_ref,
        "requester": campaign.requester_username,
        "approvals_required": campaign.approvals_required,
        "approvals_given": len(campaign_workflow.approvals.approving_people(campaign, campaign.decisions.all())),
        "approval_reasons": [filing.reason_text(reason) for reason in campaign.approval_reasons],
        "hosts": {
            "total": facts["total"],
            "excluded": [
                {"host": row["host_id"], "name": row["display_name"], "reason": row["excluded_reason"]}
                for row in excluded
            ],
            "unresolved": campaign.unresolved,
        },
        "counts": {
            "by_status": facts["counts"]["status"],
            "by_outcome": facts["counts"]["outcome"],
            "waiting": facts["counts"]["waiting"],
            "skipped": facts["counts"]["skipped"],
        },
        "waves": facts["waves"],
        "reverse_of": str(campaign.reverse_of.uuid) if campaign.reverse_of_id else None,
        "created_at": campaign.created_at,
        "approved_at": campaign.approved_at,
        "finished_at": campaign.finished_at,
    }


def _guarded(view: APIView, act):
    def run() -> Response:
        try:
            return act()
        except Exception as exc:  # handle_exception re-raises what is not ours to answer (a 500)
            return view.handle_exception(exc)

    return run


class CampaignListView(APIView):
    @extend_schema(
        summary="File a campaign",
        description=(
            "One task for many hosts (README, Campaigns): the hosts listed and/or a KSC administration group's, "
            "resolved in KSC and frozen; protected hosts left out (or kept under the override); approvals scaled "
            "by size. Unknown and ambiguous hosts are listed in hosts.unresolved, never guessed."
        ),
        tags=[TAG],
        request=NewCampaignSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: CampaignSerializer, **errors(400, 401, 403, 422)},
    )
    def post(self, request: Request) -> Response:
        def act() -> Response:
            policy.may_campaign(request.user, policy.FILE, token=request.auth).enforce()
            data = parse_object(request, FILE_FIELDS)
            campaign = filing.file_campaign(
                request.user,
                task=data.get("task"),
                params=data.get("params"),
                hosts=data.get("hosts"),
                justification=data.get("justification"),
                external_ref=data.get("external_ref", ""),
                server=data.get("server") or "primary",
                break_glass=data.get("break_glass", False),
                override_reason=data.get("override_reason", ""),
                group=data.get("group", ""),
                subgroups=data.get("subgroups", False),
                source=Source.API,
                token=request.auth,
            )
            return Response(campaign_data(campaign), status=status.HTTP_201_CREATED)

        return idempotency.run_once(request, _guarded(self, act))


class CampaignDetailView(APIView):
    @extend_schema(
        summary="A campaign: its status, counts by request status and outcome, and its waves",
        tags=[TAG],
        parameters=[CAMPAIGN_ID],
        responses={200: CampaignSerializer, **errors(401, 404)},
    )
    def get(self, request: Request, key: str) -> Response:
        campaign = _get(request.user, key)
        if campaign is None:
            return _not_found()
        return Response(campaign_data(campaign))


class HostPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


HOST_COLUMNS = (
    "campaign",
    "host_id",
    "display_name",
    "group_name",
    "wave",
    "excluded_reason",
    "held_reason",
    "request__uuid",
    "request__status",
    "request__submitted_at",
    "request__outcome",
)


class CampaignHostsView(APIView):
    @extend_schema(
        summary="A campaign's hosts, paged: each host's request, status and outcome",
        tags=[TAG],
        parameters=[CAMPAIGN_ID, *HOST_FILTERS],
        responses={200: CampaignHostPageSerializer, **errors(401, 404)},
    )
    def get(self, request: Request, key: str) -> Response:
        campaign = _get(request.user, key)
        if campaign is None:
            return _not_found()
        rows, _chosen = host_rows(campaign, request.query_params)
        # Only the columns this answer shows: a request row is wide, and a page holds up to 500.
        rows = rows.only(*HOST_COLUMNS)
        paginator = HostPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        data = []
        for host in page:
            outcome = outcome_of(host.request) if host.request_id else None
            data.append(
                {
                    "host": host.host_id,
                    "name": host.display_name,
                    "group": host.group_name,
                    "wave": host.wave,
                    "request": str(host.request.uuid) if host.request_id else None,
                    "status": host.request.status
                    if host.request_id
                    else ("skipped" if host.excluded_reason else "waiting"),
                    "outcome": outcome.state if outcome else None,
                    "reason": host.excluded_reason or host.held_reason,
                }
            )
        return paginator.get_paginated_response(data)


ACTIONS = {
    policy.APPROVE: campaign_workflow.approve,
    policy.REJECT: campaign_workflow.reject,
    policy.PAUSE: campaign_workflow.pause,
    policy.RESUME: campaign_workflow.resume,
    policy.ABORT: campaign_workflow.abort,
}


class CampaignActionView(APIView):
    action_name = ""

    @extend_schema(
        summary="Decide on or steer a campaign",
        description=(
            "approve, reject and resume need a token issued for decisions (never the requester's own campaign); "
            "pause and abort say why in comment; reverse files the release campaign of an isolation campaign "
            "(201)."
        ),
        tags=[TAG],
        request=DecisionCommentSerializer,
        parameters=[CAMPAIGN_ID, IDEMPOTENCY_KEY],
        responses={200: CampaignSerializer, 201: CampaignSerializer, **errors(400, 401, 403, 404, 409, 422)},
    )
    def post(self, request: Request, key: str) -> Response:
        campaign = _get(request.user, key)
        if campaign is None:
            return _not_found()
        what = self.action_name

        def act() -> Response:
            policy.may_campaign(request.user, what, campaign, token=request.auth).enforce()
            data = parse_object(request, DECISION_FIELDS)
            if what == policy.REVERSE:
                reversal = campaign_workflow.reverse(campaign, user=request.user, source=Source.API, token=request.auth)
                return Response(campaign_data(reversal), status=status.HTTP_201_CREATED)
            done = ACTIONS[what](campaign.uuid, user=request.user, comment=data.get("comment", ""), token=request.auth)
            return Response(campaign_data(done))

        return idempotency.run_once(request, _guarded(self, act))
