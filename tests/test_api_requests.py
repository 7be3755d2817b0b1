"""The requests endpoints: filing, listing, reading, and the four decisions, with every error status.

Every refusal is shown with its message and with proof that nothing changed.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from responses import workflow
from responses.models import (
    Decision,
    EventKind,
    RequestEvent,
    ResponseRequest,
    Source,
    Status,
)
from tests.fixtures.api import HOST, NEW, REQUESTS, body, failed, file, url

DETAIL_FIELDS = {
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
    "events",
    "attempts",
}


def nothing_filed() -> bool:
    return ResponseRequest.objects.count() == 0 and RequestEvent.objects.count() == 0


class TestFiling:
    def test_it_files_a_request_and_answers_201_with_it(self, api, alice, ksc_queue):
        response = api(alice).post(REQUESTS, NEW, format="json")
        assert response.status_code == 201, response.json()
        data = response.json()
        assert set(data) == DETAIL_FIELDS
        request = ResponseRequest.objects.get()
        assert data["id"] == str(request.uuid)
        assert data["status"] == Status.PENDING_APPROVAL
        assert (data["task"], data["target_host"], data["params"]) == ("isolateHost", HOST, {"action": 1})
        assert (data["approvals_required"], data["approvals"], data["ksc_incident_id"]) == (1, [], None)
        assert data["requester"] == "alice"
        assert data["actions"] == ["cancel"]  # what alice may do to it now
        assert [event["kind"] for event in data["events"]] == [EventKind.FILED]
        # filed as alice, from the API, with the SIEM's reference kept
        assert (request.requester, request.source, request.external_ref) == (alice, Source.API, "KUMA-ALERT-42")
        assert ksc_queue.count == 0  # nothing reaches KSC before approval

    def test_it_never_shows_integer_keys(self, api, alice):
        data = api(alice).post(REQUESTS, NEW, format="json").json()
        assert uuid.UUID(data["id"])

        def keys(value) -> set[str]:
            if isinstance(value, dict):
                return set(value).union(*(keys(item) for item in value.values()))
            if isinstance(value, list):
                return set().union(*(keys(item) for item in value))
            return set()

        # nested approvals, events and attempts carry no id (nor a request's or user's key) at all
        assert not keys(data) & {"pk", "request", "requester_id", "user", "approver_id"}
        assert "id" not in keys([data["approvals"], data["events"], data["attempts"]])

    def test_it_stores_the_cleaned_params(self, api, alice):
        response = api(alice).post(
            REQUESTS, body(task="getFile", params={"md5hash": "D41D8CD98F00B204E9800998ECF8427E"}), format="json"
        )
        assert response.json()["params"] == {
            "md5hash": "d41d8cd98f00b204e9800998ecf8427e",
            "sha256hash": "",
            "path": "",
        }

    def test_a_task_that_needs_no_approval_is_approved_at_once(self, api, alice):
        response = api(alice).post(REQUESTS, body(task="getFile", params={"path": "C:\\evidence.bin"}), format="json")
        assert response.status_code == 201
        assert (response.json()["status"], response.json()["approvals_required"]) == (Status.APPROVED, 0)

    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            ({"task": "wipeDisk"}, "task", "Unknown task type"),
            ({"task": ...}, "task", "Unknown task type"),
            ({"target_host": ""}, "target_host", "target host is required"),
            ({"target_host": 42}, "target_host", "target host is required"),
            ({"target_host": "host\n"}, "target_host", "control characters"),
            ({"justification": "   "}, "justification", "justification is required"),
            ({"justification": ...}, "justification", "justification is required"),
            ({"justification": "x" * 4001}, "justification", "longer than 4000"),
            ({"external_ref": "ALERT\x00"}, "external_ref", "control characters"),
            ({"external_ref": ["a"]}, "external_ref", "must be text"),
            ({"wipe": True}, "wipe", "Unknown field"),
        ],
    )
    def test_bad_input_is_a_400_per_field_and_files_nothing(self, api, alice, changes, field, message):
        response = api(alice).post(REQUESTS, body(**changes), format="json")
        assert response.status_code == 400
        data = response.json()
        assert data["code"] == "invalid"
        assert message in " ".join(data["errors"][field])
        assert message in data["detail"]  # the one sentence a SIEM logs names the problem too
        assert nothing_filed()

    @pytest.mark.parametrize(
        ("task", "params", "errors"),
        [
            ("isolateHost", {"action": 5}, {"action"}),
            ("deleteFile", {"md5hash": "nope", "sha256hash": "nope"}, {"md5hash", "sha256hash"}),
            ("isolateHost", {"action": 1, "force": True}, {"force"}),
            ("getFile", {}, {"non_field_errors"}),  # names no file
            ("onDemandScan", [{"enabled": True, "path": "", "recursive": True, "type": 22}], {"[0].path"}),
            ("isolateHost", "on", {"non_field_errors"}),
        ],
    )
    def test_params_errors_are_keyed_by_param_name(self, api, alice, task, params, errors):
        response = api(alice).post(REQUESTS, body(task=task, params=params), format="json")
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"params"}
        assert set(response.json()["errors"]["params"]) == errors
        assert nothing_filed()

    def test_all_errors_are_reported_at_once(self, api, alice):
        response = api(alice).post(
            REQUESTS, {"task": "deleteFile", "target_host": "", "params": {"md5hash": "x"}}, format="json"
        )
        assert set(response.json()["errors"]) == {"target_host", "params", "justification"}
        assert "params.md5hash:" in response.json()["detail"]

    @pytest.mark.parametrize(
        ("payload", "content_type", "code"),
        [
            ("{not json", "application/json", "parse_error"),
            ("task=isolateHost", "application/x-www-form-urlencoded", "unsupported_media_type"),
            ("isolate it", "text/plain", "unsupported_media_type"),
            ('["isolateHost"]', "application/json", "invalid"),
            ("42", "application/json", "invalid"),
        ],
    )
    def test_a_body_that_is_not_a_json_object_is_a_400(self, api, alice, payload, content_type, code):
        response = api(alice).post(REQUESTS, payload, content_type=content_type)
        assert response.status_code == 400
        assert response.json()["code"] == code
        assert response.json()["detail"]
        assert nothing_filed()

    def test_an_empty_body_names_every_missing_field(self, api, alice):
        response = api(alice).post(REQUESTS, "", content_type="application/json")
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"task", "target_host", "justification"}
        assert nothing_filed()

    def test_those_without_the_analyst_role_get_403_and_file_nothing(self, api, bob, dave, mallory, root):
        for user in (bob, dave, mallory, root):
            response = api(user).post(REQUESTS, NEW, format="json")
            assert response.status_code == 403
            assert response.json() == {
                "detail": "Only members of Analysts can file response requests.",
                "code": "permission_denied",
            }
        assert nothing_filed()


class TestListing:
    def test_analysts_list_their_own_newest_first(self, api, alice, frank):
        first, second = file(alice), file(alice)
        file(frank)
        data = api(alice).get(REQUESTS).json()
        assert data["count"] == 2
        assert [item["id"] for item in data["results"]] == [str(second.uuid), str(first.uuid)]
        assert "events" not in data["results"][0]  # the timeline is on the detail only

    def test_approvers_and_auditors_list_every_request(self, api, alice, frank, bob, dave):
        file(alice), file(frank)
        assert api(bob).get(REQUESTS).json()["count"] == 2
        assert api(dave).get(REQUESTS).json()["count"] == 2

    def test_it_filters(self, api, alice, frank, bob, dave):
        isolate = file(alice, target_host_name="PAYROLL-01")
        fetch = file(frank, "getFile", {"path": "C:\\x"}, target_host="another-host")
        rejected = file(alice, target_host="third-host")
        api(bob).post(url(rejected, "reject"), {"comment": "wrong host"}, format="json")
        old = file(alice)
        ResponseRequest.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
        client = api(dave)

        def ids(query: str) -> set[str]:
            response = client.get(REQUESTS + query)
            assert response.status_code == 200, response.json()
            return {item["id"] for item in response.json()["results"]}

        assert ids("?status=rejected") == {str(rejected.uuid)}
        assert ids("?task=getFile") == {str(fetch.uuid)}
        assert ids("?requester=frank") == {str(fetch.uuid)}
        assert ids("?host=another-host") == {str(fetch.uuid)}
        assert ids("?host=payroll") == {str(isolate.uuid)}  # part of the name, any case
        since = (timezone.now() - dt.timedelta(days=1)).isoformat()
        assert str(old.uuid) not in ids("?since=" + since.replace("+", "%2B"))
        assert ids("?until=" + since.replace("+", "%2B")) == {str(old.uuid)}
        assert ids("?status=pending_approval&requester=alice&task=isolateHost") == {
            str(isolate.uuid),
            str(old.uuid),
        }

    def test_an_analyst_filtering_by_another_requester_sees_nothing(self, api, alice, frank):
        file(frank)
        assert api(alice).get(REQUESTS + "?requester=frank").json()["count"] == 0

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("?status=done", "status"),
            ("?task=wipeDisk", "task"),
            ("?since=yesterday", "since"),
            ("?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "until"),
            ("?requester=a%00b", "requester"),
        ],
    )
    def test_a_bad_filter_is_a_400_naming_it(self, api, dave, query, field):
        response = api(dave).get(REQUESTS + query)
        assert response.status_code == 400
        assert field in response.json()["errors"]

    def test_it_issues_as_many_queries_for_50_rows_as_for_5(self, api, alice, bob):
        # Approvals are prefetched and each row's actions are worked out from them: no query per row.
        client = api(bob)
        client.get(REQUESTS)  # the token's first use is stamped once; not part of what is measured

        def queries_listing(rows: int) -> int:
            while ResponseRequest.objects.count() < rows:
                request = file(alice)
                if ResponseRequest.objects.count() % 2:
                    workflow.approve(request, user=bob)
            with CaptureQueriesContext(connection) as captured:
                assert client.get(REQUESTS).json()["count"] == rows
            return len(captured)

        assert queries_listing(5) == queries_listing(50)

    def test_it_pages(self, api, alice):
        for _ in range(3):
            file(alice)
        client = api(alice)
        first = client.get(REQUESTS + "?page_size=2").json()
        assert (first["count"], len(first["results"])) == (3, 2)
        second = client.get(first["next"]).json()
        assert len(second["results"]) == 1 and second["next"] is None
        assert {item["id"] for item in first["results"] + second["results"]} == {
            str(key) for key in ResponseRequest.objects.values_list("uuid", flat=True)
        }
        assert client.get(REQUESTS + "?page=9").status_code == 404


class TestReading:
    def test_it_shows_the_request_with_its_timeline_and_attempts(self, api, alice, bob, carol):
        request = failed(alice, bob)
        response = api(carol).get(url(request))
        assert response.status_code == 200
        data = response.json()
        assert set(data) == DETAIL_FIELDS
        assert data["status"] == Status.FAILED
        assert data["actions"] == ["retry"]
        assert [(e["kind"], e["actor"]) for e in data["events"]] == [
            (EventKind.FILED, "alice"),
            (EventKind.APPROVED, "bob"),
            (EventKind.CLAIMED, "system"),
            (EventKind.FAILED, "system"),
        ]
        assert data["approvals"] == [
            {"approver": "bob", "decision": "approve", "comment": "", "created_at": data["approvals"][0]["created_at"]}
        ]
        [attempt] = data["attempts"]
        assert (attempt["number"], attempt["outcome"], attempt["error_code"]) == (1, "failed", 1182)
        assert data["last_error"] == "KSC refused the incident (code 1182)."
        assert data["ksc_outcome_unknown"] is False  # KSC answered: surely no incident

    def test_another_analysts_request_is_a_404_not_a_403(self, api, alice, frank, mallory):
        request = file(alice)
        for user in (frank, mallory):
            response = api(user).get(url(request))
            assert response.status_code == 404
            assert response.json()["code"] == "not_found"

    # A stable id for the random UUID: pytest-xdist workers must collect the same test names.
    @pytest.mark.parametrize("key", [pytest.param(str(uuid.uuid4()), id="unknown-uuid"), "not-a-uuid", "1"])
    def test_an_unknown_id_is_a_json_404(self, api, alice, key):
        file(alice)  # pk 1 exists: integer keys must not find it
        response = api(alice).get(url(key))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    def test_reading_an_overdue_request_writes_nothing_and_the_keeper_expires_it(self, api, alice):
        """A GET never writes (issue 25, point 11): the keeper's sweep expires what is overdue."""
        request = file(alice)
        ResponseRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
        assert api(alice).get(url(request)).json()["status"] == Status.PENDING_APPROVAL
        assert ResponseRequest.objects.get(pk=request.pk).status == Status.PENDING_APPROVAL
        assert workflow.expire_overdue() == 1
        assert api(alice).get(url(request)).json()["status"] == Status.EXPIRED


class TestDecisions:
    def test_another_approver_approves(self, api, alice, bob):
        request = file(alice)
        response = api(bob).post(url(request, "approve"), {"comment": "Confirmed with the owner."}, format="json")
        assert response.status_code == 200
        data = response.json()
        assert data["status"] == Status.APPROVED
        assert data["approvals"][0]["approver"] == "bob"
        assert data["events"][-1]["kind"] == EventKind.APPROVED
        assert Decision.objects.get().comment == "Confirmed with the owner."

    def test_approve_needs_no_body(self, api, alice, bob):
        request = file(alice)
        assert api(bob).post(url(request, "approve")).status_code == 200

    def test_an_approver_rejects_with_a_reason(self, api, alice, bob):
        request = file(alice)
        response = api(bob).post(url(request, "reject"), {"comment": "Wrong host."}, format="json")
        assert (response.status_code, response.json()["status"]) == (200, Status.REJECTED)

    def test_a_rejection_without_a_reason_is_a_400_and_changes_nothing(self, api, alice, bob):
        request = file(alice)
        response = api(bob).post(url(request, "reject"), {"comment": " "}, format="json")
        assert response.status_code == 400
        assert response.json()["errors"] == {"comment": ["comment is required."]}
        request.refresh_from_db()
        assert request.status == Status.PENDING_APPROVAL
        assert Decision.objects.count() == 0

    def test_the_requester_cancels(self, api, alice):
        request = file(alice)
        response = api(alice).post(url(request, "cancel"), {"comment": "Wrong host."}, format="json")
        assert (response.status_code, response.json()["status"]) == (200, Status.CANCELLED)

    def test_an_approver_retries_a_failed_request(self, api, alice, bob, carol):
        request = failed(alice, bob)
        response = api(carol).post(url(request, "retry"), {"comment": "KSC is back."}, format="json")
        assert response.status_code == 200
        assert response.json()["status"] == Status.APPROVED
        assert response.json()["events"][-1]["kind"] == EventKind.RETRIED

    @pytest.mark.parametrize("action", ["approve", "reject", "cancel", "retry"])
    def test_unknown_fields_and_non_objects_are_400s(self, api, alice, bob, carol, action):
        request = failed(alice, bob) if action == "retry" else file(alice)
        client = api({"cancel": alice, "retry": carol}.get(action, bob))
        before = (request.status, list(request.events.values_list("kind", flat=True)))
        response = client.post(url(request, action), {"comment": "x", "force": True}, format="json")
        assert (response.status_code, list(response.json()["errors"])) == (400, ["force"])
        response = client.post(url(request, action), '"approve"', content_type="application/json")
        assert (response.status_code, list(response.json()["errors"])) == (400, ["non_field_errors"])
        response = client.post(url(request, action), {"comment": ["x"]}, format="json")
        assert (response.status_code, list(response.json()["errors"])) == (400, ["comment"])
        request.refresh_from_db()
        assert (request.status, list(request.events.values_list("kind", flat=True))) == before

    @pytest.mark.parametrize(
        ("action", "message"),
        [
            ("approve", "only requests pending approval can be approved or rejected"),
            ("reject", "only requests pending approval can be approved or rejected"),
            ("retry", "only failed requests can be retried"),
        ],
    )
    def test_a_status_that_does_not_allow_it_is_a_409_saying_why(self, api, alice, bob, carol, action, message):
        request = file(alice)
        api(bob).post(url(request, "reject"), {"comment": "no"}, format="json")
        events = RequestEvent.objects.count()
        response = api(carol).post(url(request, action), {"comment": "late"}, format="json")
        assert response.status_code == 409
        assert response.json()["code"] == "wrong_status"
        assert message in response.json()["detail"]
        assert "rejected" in response.json()["detail"]
        assert RequestEvent.objects.count() == events

    def test_cancelling_a_decided_request_is_a_409(self, api, alice, bob):
        request = file(alice)
        api(bob).post(url(request, "approve"), format="json")
        response = api(alice).post(url(request, "cancel"), format="json")
        assert response.status_code == 409
        assert "only requests pending approval can be cancelled" in response.json()["detail"]

    def test_approving_twice_is_a_409(self, settings, api, alice, bob):
        settings.APPROVALS_REQUIRED_BY_TASK = {"isolateHost": 2}
        request = file(alice)
        client = api(bob)
        assert client.post(url(request, "approve"), format="json").status_code == 200
        response = client.post(url(request, "approve"), format="json")
        assert response.status_code == 409
        assert "already approved" in response.json()["detail"]
        assert Decision.objects.count() == 1

    @pytest.mark.parametrize("action", ["approve", "reject", "cancel", "retry"])
    def test_an_unknown_request_is_a_404(self, api, bob, action):
        response = api(bob).post(url(str(uuid.uuid4()), action), {"comment": "x"}, format="json")
        assert (response.status_code, response.json()["code"]) == (404, "not_found")

    def test_get_is_not_allowed_on_a_decision(self, api, alice, bob):
        request = file(alice)
        response = api(bob).get(url(request, "approve"))
        assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")


class TestTasks:
    def test_it_lists_the_catalog(self, api, mallory):
        response = api(mallory).get("/api/v1/tasks/")
        assert response.status_code == 200
        tasks = {task["name"]: task for task in response.json()}
        assert list(tasks) == [
            "getFile",
            "deleteFile",
            "quarantineFile",
            "iocScan",
            "startProcess",
            "terminateProcess",
            "isolateHost",
            "preventExecution",
            "onDemandScan",
        ]
        assert (tasks["getFile"]["needs_approval"], tasks["getFile"]["approvals_required"]) == ("never", 0)
        assert (tasks["isolateHost"]["needs_approval"], tasks["isolateHost"]["approvals_required"]) == ("always", 1)
        assert tasks["iocScan"]["needs_approval"] == "depends_on_params"
        assert tasks["isolateHost"]["params_schema"]["properties"]["action"]["enum"] == [0, 1]
        assert tasks["onDemandScan"]["params_schema"]["type"] == "array"
        assert tasks["deleteFile"]["label"] == "Delete file"

    def test_it_follows_the_approval_settings(self, settings, api, alice):
        settings.APPROVALS_REQUIRED = 2
        settings.APPROVALS_REQUIRED_BY_TASK = {"getFile": 1, "isolateHost": 0}
        tasks = {task["name"]: task for task in api(alice).get("/api/v1/tasks/").json()}
        assert (tasks["getFile"]["needs_approval"], tasks["getFile"]["approvals_required"]) == ("always", 1)
        assert (tasks["isolateHost"]["needs_approval"], tasks["isolateHost"]["approvals_required"]) == ("never", 0)
        assert (tasks["deleteFile"]["needs_approval"], tasks["deleteFile"]["approvals_required"]) == ("always", 2)
        assert (tasks["iocScan"]["needs_approval"], tasks["iocScan"]["approvals_required"]) == ("depends_on_params", 2)
        assert (tasks["onDemandScan"]["needs_approval"], tasks["onDemandScan"]["approvals_required"]) == ("never", 0)

    def test_each_schema_accepts_what_the_catalog_accepts(self, api, alice):
        # The schema is derived from the catalog; a valid example of each task validates against it.
        import jsonschema

        from tests.support.catalog_cases import VALID

        schemas = {task["name"]: task["params_schema"] for task in api(alice).get("/api/v1/tasks/").json()}
        for task, params in VALID.items():
            jsonschema.validate(params, schemas[task])


class TestSchemaAndDocs:
    def test_the_schema_is_openapi_3(self, api, alice):
        response = api(alice).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        assert response.status_code == 200
        schema = json.loads(response.content)
        assert schema["openapi"].startswith("3.")
        assert set(schema["paths"]) >= {
            "/api/v1/requests/",
            "/api/v1/requests/{id}/",
            "/api/v1/requests/{id}/approve/",
            "/api/v1/requests/{id}/reject/",
            "/api/v1/requests/{id}/cancel/",
            "/api/v1/requests/{id}/retry/",
            "/api/v1/tasks/",
        }
        body_schema = schema["components"]["schemas"]["NewResponseRequest"]
        assert [branch["title"] for branch in body_schema["oneOf"]][:2] == ["getFile", "deleteFile"]

    def test_the_schema_needs_a_token_or_a_session(self, api, client, login, alice):
        assert api(None).get("/api/v1/schema/").status_code == 401
        login(client, alice)
        assert client.get("/api/v1/schema/").status_code == 200

    def test_the_docs_need_a_portal_login(self, client, login, alice):
        response = client.get("/api/v1/docs/")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        login(client, alice)
        response = client.get("/api/v1/docs/")
        assert response.status_code == 200
        assert b"swagger-ui" in response.content
        assert b"cdn.jsdelivr" not in response.content  # served by the portal itself
