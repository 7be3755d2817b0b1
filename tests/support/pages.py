"""Helpers of the page tests: requests in a given state, a page's text, the CSV export, many rows at once."""

from __future__ import annotations

import csv
import io

from responses import host_directory
from responses.models import Decision, DecisionKind, ResponseRequest, Status, payload_fingerprint
from tests.support.filing import file_request

NEW = "/requests/new/"  # the new-request page
HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"


def file(user, task: str = "isolateHost", params=None, **extra) -> ResponseRequest:
    """A request filed through the workflow: by default isolate TKY-WS-0142, waiting for approval."""
    return file_request(
        user=user,
        task=task,
        target_host=extra.pop("target_host", HOST),
        target_host_name=extra.pop("target_host_name", "TKY-WS-0142"),
        params={"action": 1} if params is None else params,
        justification=extra.pop("justification", "Beaconing to a known C2 address"),
        **extra,
    )


def set_status(rr: ResponseRequest, status: str, **fields) -> ResponseRequest:
    # Tests only: the states the submission job would leave behind.
    ResponseRequest.objects.filter(pk=rr.pk).update(status=status, **fields)
    rr.refresh_from_db()
    return rr


def page(response) -> str:
    return response.content.decode()


def read_csv(response) -> list[dict]:
    """The rows of the requests' CSV export, after checking it is one."""
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="edr-requests-')
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def ioc_data(**extra) -> dict:
    """The new-request form of an iocScan, without its archive."""
    return {
        "task": "iocScan",
        "target_host": HOST,
        "justification": "Hunt for the campaign's IOCs",
        "params-scanCriticalAreas": "on",
        **extra,
    }


def add_requests(requester, approver, count: int) -> None:
    """``count`` requests of ``requester``: a third pending, a third approved by ``approver``, a third rejected."""
    statuses = (Status.PENDING_APPROVAL, Status.APPROVED, Status.REJECTED)
    start = ResponseRequest.objects.count()
    rows = []
    for index in range(start, start + count):
        params = {"action": index % 2}
        rows.append(
            ResponseRequest(
                task="isolateHost",
                target_host=f"host-{index}",
                target_host_name=f"WS-{index:05d}",
                params=params,
                justification=f"Row {index}",
                fingerprint=payload_fingerprint("isolateHost", f"host-{index}", params),
                requester=requester,
                requester_username=requester.username,
                status=statuses[index % 3],
                approvals_required=1,
            )
        )
    created = ResponseRequest.objects.bulk_create(rows)
    Decision.objects.bulk_create(
        Decision(
            request=rr,
            approver=approver,
            approver_username=approver.username,
            decision=DecisionKind.APPROVE if rr.status == Status.APPROVED else DecisionKind.REJECT,
            fingerprint=rr.fingerprint,
        )
        for rr in created
        if rr.status != Status.PENDING_APPROVAL
    )
    # What filing records for each request (rows made at once skip filing.file_request).
    for rr in created:
        host_directory.record_filed(rr.target_host, rr.target_host_name)


def isolation(user, host_id: str, action: int, outcome: str | None, incident: int):
    """An isolateHost (``action`` 1) or its release (0) for ``host_id``, SUBMITTED with ``incident``, and its outcome."""
    from django.utils import timezone

    from responses.models import ResponseOutcome

    request = file(user, params={"action": action}, target_host=host_id)
    request = set_status(request, Status.SUBMITTED, ksc_incident_id=incident, submitted_at=timezone.now())
    if outcome:
        ResponseOutcome.objects.create(request=request, state=outcome)
    return request
