"""The campaigns' API in the OpenAPI schema (GET /api/v1/schema/): each call's body and answer, and its errors.

The shapes only: the views (campaigns/api.py) build the answers themselves (``campaign_data``, the
host rows); tests/test_campaigns_api_schema.py checks that the schema lists every call and that
real answers match it.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from campaigns.models import CampaignStatus
from responses.api.views import ErrorSerializer

TAG = "campaigns"
CAMPAIGN_ID = OpenApiParameter("key", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The campaign's id.")

_ERRORS = {
    400: "Bad input: the detail says why, errors names each refused field (nothing was filed or changed).",
    401: "No valid token: send Authorization: Token <key>.",
    403: "This user (or this token's scope) may not do this; the detail says why.",
    404: "No such campaign, or not one this user may see.",
    409: "The campaign's status does not allow this; the detail says why.",
    422: "This Idempotency-Key was used for a different call.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error answers of a call, each in the API's one error shape."""
    return {code: OpenApiResponse(ErrorSerializer, description=_ERRORS[code]) for code in codes}


class NewCampaignSerializer(serializers.Serializer):
    task = serializers.CharField(help_text="A task of GET /api/v1/tasks/ (IOC scans, with their archives, go per host).")
    params = serializers.JSONField(help_text="The task's params: one set for every host.")
    hosts = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text=(
            "KSC host ids, display names, FQDNs or IPv4 addresses (or one text with one per line). Each must match "
            "exactly one host; unknown and ambiguous ones are listed in the answer, never guessed."
        ),
    )
    group = serializers.CharField(
        required=False,
        help_text=(
            'A KSC administration group\'s path, e.g. "Managed devices/Servers": its hosts join the campaign '
            "(with hosts, one set without duplicates). An unknown or empty group is a 400 naming it."
        ),
    )
    subgroups = serializers.BooleanField(
        required=False, default=False, help_text="With group: the hosts of every group below it too."
    )
    server = serializers.CharField(required=False, help_text="The KSC server (default: primary).")
    justification = serializers.CharField(help_text="Why: approvers read this.")
    external_ref = serializers.CharField(required=False, allow_blank=True, help_text="The SIEM's alert or case id.")
    break_glass = serializers.BooleanField(
        required=False, default=False, help_text="File above CAMPAIGN_MAX hosts (the break-glass permission)."
    )
    override_reason = serializers.CharField(
        required=False,
        help_text="Include protected hosts, because...: the override permission, and one more approver.",
    )


class DecisionCommentSerializer(serializers.Serializer):
    comment = serializers.CharField(
        required=False, allow_blank=True, help_text="Why (required to reject, pause, resume and abort)."
    )


class _ExcludedHostSerializer(serializers.Serializer):
    host = serializers.CharField(help_text="The KSC host id.")
    name = serializers.CharField()
    reason = serializers.CharField(help_text="The protected-host rule that left it out.")


class _UnresolvedLineSerializer(serializers.Serializer):
    line = serializers.CharField()
    reason = serializers.CharField()


class _CampaignHostsSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Hosts in the set approvers approve.")
    excluded = _ExcludedHostSerializer(many=True)
    unresolved = _UnresolvedLineSerializer(many=True)


class _CountsSerializer(serializers.Serializer):
    by_status = serializers.DictField(child=serializers.IntegerField(), help_text="Hosts by their request's status.")
    by_outcome = serializers.DictField(child=serializers.IntegerField(), help_text="Submitted hosts by outcome.")
    waiting = serializers.IntegerField(help_text="Hosts whose request is not made yet.")
    skipped = serializers.IntegerField(help_text="Hosts left out (protected at filing or at submission).")


class _WaveSerializer(serializers.Serializer):
    wave = serializers.IntegerField(help_text="0 is the canary.")
    hosts = serializers.IntegerField()
    sent = serializers.IntegerField()
    held = serializers.IntegerField()
    bad = serializers.IntegerField(help_text="Failed, or finished with no task.")


class CampaignSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=CampaignStatus.choices)
    task = serializers.CharField()
    params = serializers.JSONField()
    server = serializers.CharField()
    justification = serializers.CharField()
    external_ref = serializers.CharField(allow_blank=True)
    requester = serializers.CharField()
    approvals_required = serializers.IntegerField()
    approvals_given = serializers.IntegerField()
    approval_reasons = serializers.ListField(child=serializers.CharField(), help_text="Why this many approvals.")
    hosts = _CampaignHostsSerializer()
    counts = _CountsSerializer()
    waves = _WaveSerializer(many=True)
    reverse_of = serializers.UUIDField(allow_null=True, help_text="The isolation campaign this one releases.")
    created_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class CampaignHostRowSerializer(serializers.Serializer):
    host = serializers.CharField(help_text="The KSC host id.")
    name = serializers.CharField()
    group = serializers.CharField(allow_blank=True)
    wave = serializers.IntegerField(allow_null=True)
    request = serializers.UUIDField(allow_null=True, help_text="The host's own request, once made.")
    status = serializers.CharField(help_text="The request's status; waiting (not made yet) or skipped.")
    outcome = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_blank=True, help_text="Why skipped, or why held.")


class CampaignHostPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CampaignHostRowSerializer(many=True)


HOST_FILTERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="The page, from 1."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Hosts a page (at most 500; default 100)."),
    OpenApiParameter("state", OpenApiTypes.STR, description="Only hosts in this state (a request status, waiting, skipped)."),
    OpenApiParameter("outcome", OpenApiTypes.STR, description="Only hosts with this outcome."),
    OpenApiParameter("group", OpenApiTypes.STR, description="Only hosts of this KSC group."),
]
