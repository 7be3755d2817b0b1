"""What the API shows, and the shapes of what it accepts (for parsing and the OpenAPI schema).

Requests are shown by their UUID (``id``); integer keys never leave the server.
Validation of what is filed is the workflow's and the catalog's, not these
serializers': the input serializers here describe the body for the schema and
the interactive docs, and the filters parse query strings.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from responses import catalog, isolation, ksc_words, policy, workflow
from responses.models import (
    Decision,
    OutcomeState,
    RequestEvent,
    ResponseRequest,
    SubmissionAttempt,
    outcome_of,
)

ACTION_CHOICES = [(action, action) for action in policy.ACTIONS]
# One letter would list the whole estate (the web UI's host search has the same floor).
MIN_HOST_QUERY = 2
DEFAULT_HOST_RESULTS = 25
MAX_HOST_RESULTS = 100


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver_username", read_only=True)

    class Meta:
        model = Decision
        fields = ["approver", "decision", "comment", "created_at"]
        read_only_fields = fields


class OutcomeSerializer(serializers.Serializer):
    """What happened on the endpoint (responses.outcomes): never "done" before KSC's task says so."""

    state = serializers.ChoiceField(choices=OutcomeState.choices, help_text=_("The outcome on the host."))
    label = serializers.CharField(help_text=_("The state in words."))
    since = serializers.DateTimeField(allow_null=True, help_text=_("When the outcome last changed."))
    ksc_task_id = serializers.CharField(allow_null=True, help_text=_("KSC's [Response] task id, once matched."))
    ksc_task_name = serializers.CharField(help_text=_("The task's name in KSC."))
    reason = serializers.CharField(help_text=_("KSC's reason for a failure or warning, or why tracking stopped."))
    matched_by = serializers.CharField(help_text=_("How the task was recognised as this request's."))
    final = serializers.BooleanField(help_text=_("True when the outcome will not change any more."))
    tracking = serializers.BooleanField(help_text=_("True while the portal still asks KSC."))


class ResponseRequestSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True, help_text="The request's public id.")
    requester = serializers.CharField(source="requester_username", read_only=True)
    approvals = ApprovalSerializer(many=True, read_only=True)
    actions = serializers.SerializerMethodField(
        help_text="What the calling user may do to this request now: approve, reject, cancel, retry."
    )
    description = serializers.CharField(source="describe", read_only=True, help_text="The action in plain words.")
    ksc_outcome_unknown = serializers.BooleanField(
        read_only=True,
        help_text=(
            "FAILED, but KSC may have created the incident (an AddIncident whose answer never came): the "
            "portal keeps looking for it in KSC and adopts it when found (status SUBMITTED then)."
        ),
    )
    params = serializers.SerializerMethodField(
        help_text=(
            "The task's params. In lists an IOC archive is given as {size, sha256}, never the archive "
            "itself; GET /api/v1/requests/{id}/ returns it whole."
        )
    )
    outcome = serializers.SerializerMethodField(
        help_text="The outcome on the host once submitted (null before): follows KSC's [Response] task."
    )
    isolation_end = serializers.SerializerMethodField(
        help_text=(
            "An isolation's end as approved: {isolate_hours} (counted from when the isolation took effect), "
            "{isolate_until (UTC), time_zone} or {isolate_until: null, until_released_reason}; null for other tasks."
        )
    )
    release_at = serializers.SerializerMethodField(
        help_text="An isolation's (or its paired release's) planned end now, UTC; null until known, or until released."
    )
    release_request = serializers.SerializerMethodField(
        help_text="The id of an isolation's paired release request (scheduled at approval); null otherwise."
    )
    last_error = serializers.SerializerMethodField(
        help_text=(
            "Why the last attempt failed, in words; KSC's settings to check (KSC_USER...) only for the "
            "portal's administrators (the log has them whole)."
        )
    )

    class Meta:
        model = ResponseRequest
        fields = [
            "id",
            "status",
            "task",
            "description",
            "server",
            "target_host",
            "target_host_name",
            "params",
            "justification",
            "external_ref",
            "source",
            "requester",
            "approvals_required",
            "approvals",
            "actions",
            "ksc_incident_id",
            "ksc_outcome_unknown",
            "outcome",
            "isolation_end",
            "release_at",
            "release_request",
            "last_error",
            "created_at",
            "updated_at",
            "expires_at",
            "approved_at",
            "decided_at",
            "queued_at",
            "submitted_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.JSONField())
    def get_params(self, request: ResponseRequest) -> Any:
        return catalog.params_for_listing(request.task, request.params)

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=ACTION_CHOICES)))
    def get_actions(self, request: ResponseRequest) -> list[str]:
        call = self.context["request"]
        return policy.allowed_actions(call.user, request, token=getattr(call, "auth", None))

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_isolation_end(self, request: ResponseRequest) -> dict | None:
        return isolation.end_for_api(request.isolation_end) or None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_release_at(self, request: ResponseRequest) -> str | None:
        row = isolation.schedule_of(request)
        if row is None or row.until_released or row.release_at is None:
            return None
        return serializers.DateTimeField().to_representation(row.release_at)

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_release_request(self, request: ResponseRequest) -> str | None:
        row = isolation.schedule_of(request)
        return str(row.release.uuid) if row is not None and row.release is not None and row.request_id == request.pk else None

    @extend_schema_field(serializers.CharField())
    def get_last_error(self, request: ResponseRequest) -> str:
        return ksc_words.for_reader(request.last_error, self.context["request"].user)

    @extend_schema_field(OutcomeSerializer(allow_null=True))
    def get_outcome(self, request: ResponseRequest) -> dict | None:
        view = outcome_of(request)
        return None if view is None else OutcomeSerializer(view.__dict__).data


class RequestEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username", read_only=True, help_text='"system" for jobs.')

    class Meta:
        model = RequestEvent
        fields = ["kind", "actor", "status_before", "status_after", "message", "detail", "created_at"]
        read_only_fields = fields


class SubmissionAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = SubmissionAttempt
        fields = ["number", "started_at", "finished_at", "outcome", "ksc_incident_id", "error_code", "error_message"]
        read_only_fields = fields


class ResponseRequestDetailSerializer(ResponseRequestSerializer):
    params = serializers.JSONField(read_only=True, help_text="The task's params, as filed.")
    events = RequestEventSerializer(many=True, read_only=True, help_text="The request's timeline, oldest first.")
    attempts = SubmissionAttemptSerializer(
        source="submission_attempts", many=True, read_only=True, help_text="Each try at submitting it to KSC."
    )

    class Meta(ResponseRequestSerializer.Meta):
        fields = [*ResponseRequestSerializer.Meta.fields, "events", "attempts"]
        read_only_fields = fields


# --- Input: documentation of the bodies; the view parses them and the workflow validates ---------


class NewResponseRequestSerializer(serializers.Serializer):
    """The body of POST /requests/. Its schema is derived from the catalog (see schema.py)."""

    task = serializers.ChoiceField(choices=catalog.TASK_NAMES)
    server = serializers.CharField(
        required=False,
        help_text=_(
            "The KSC server (its name in the portal's servers file) that holds the host. Default: primary, "
            "or your only server; required when you work on several."
        ),
    )
    target_host = serializers.CharField(help_text=_("The KSC host id (KLHST_WKS_HOSTNAME) on that server."))
    params = serializers.JSONField(help_text=_("The task's params; GET /api/v1/tasks/ gives each task's schema."))
    justification = serializers.CharField(help_text=_("Why: approvers read this."))
    external_ref = serializers.CharField(
        required=False, allow_blank=True, help_text=_("The SIEM's alert or incident id, to find the request by.")
    )

    isolate_hours = serializers.FloatField(
        required=False,
        help_text=_("An isolation's end, in hours after it takes effect (ISOLATION_MIN_MINUTES to ISOLATION_MAX_HOURS)."),
    )
    isolate_until = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text=_(
            "An isolation's end as an ISO 8601 date and time with its offset; null: until released "
            "(with until_released_reason). Without either, ISOLATION_DEFAULT_HOURS."
        ),
    )
    until_released_reason = serializers.CharField(
        required=False, help_text=_("Why the isolation lasts until released (with isolate_until: null).")
    )
    time_zone = serializers.CharField(required=False, help_text=_("The IANA time zone to show the end in, e.g. Asia/Tokyo."))

    override_reason = serializers.CharField(
        required=False,
        help_text=_(
            "Why a protected host is acted on all the same: needs the protected-host override permission, and one "
            "more approver. A protected host without it is refused (400, target_host)."
        ),
    )

    FIELDS = (
        "task",
        "server",
        "target_host",
        "params",
        "justification",
        "external_ref",
        *isolation.END_FIELDS,
        "override_reason",
    )


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=workflow.MAX_COMMENT,
        help_text=_("Why; required to reject."),
    )

    FIELDS = ("comment",)


# --- Host search through KSC ----------------------------------------------------------------


class HostQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        min_length=MIN_HOST_QUERY,
        max_length=255,
        help_text=_("The start of a host's name or FQDN, an IPv4 address, or a KSC host id (at least 2 characters)."),
        error_messages={
            "required": _("q is required: the start of a host name or FQDN, an IPv4 address or a KSC host id."),
            "blank": _("q is required: the start of a host name or FQDN, an IPv4 address or a KSC host id."),
            "min_length": _("Type at least %(min)d characters: fewer would list every host.") % {"min": MIN_HOST_QUERY},
        },
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=MAX_HOST_RESULTS, default=DEFAULT_HOST_RESULTS, help_text=_("At most this many hosts.")
    )

    def validate_q(self, value: str) -> str:
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            raise serializers.ValidationError(_("q must not contain control characters."))
        return value


class KscHostSerializer(serializers.Serializer):
    server = serializers.CharField(help_text=_("The KSC server that holds the host: what server takes."))
    id = serializers.CharField(help_text=_("The KSC host id (KLHST_WKS_HOSTNAME): what target_host takes."))
    display_name = serializers.CharField()
    fqdn = serializers.CharField()
    ip = serializers.CharField(help_text=_("IPv4 address; empty when KSC does not know it."))
    group_name = serializers.CharField(help_text=_("The host's administration group in KSC."))
    last_seen = serializers.DateTimeField(allow_null=True, help_text=_("When its Network Agent last connected to KSC."))


# --- The task catalog -------------------------------------------------------------------------


class TaskTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    summary = serializers.CharField(help_text=_("What the task does to the endpoint."))
    needs_approval = serializers.ChoiceField(
        choices=[catalog.ALWAYS, catalog.NEVER, catalog.DEPENDS_ON_PARAMS],
        help_text=_(
            "always, never, or depends_on_params (iocScan needs approval when it isolates the host or removes "
            "what it finds)."
        ),
    )
    approvals_required = serializers.IntegerField(
        min_value=0, help_text=_("How many approvers (besides the requester) a request needs when it needs approval.")
    )
    params_schema = serializers.JSONField(help_text=_("The JSON Schema of the task's params."))

    @staticmethod
    def describe(task: catalog.TaskType) -> dict:
        needs, count = catalog.approval_policy(task.name)
        return {
            "name": task.name,
            "label": str(task.label),
            "summary": str(task.summary),
            "needs_approval": needs,
            "approvals_required": count,
            "params_schema": catalog.params_json_schema(task.name),
        }
