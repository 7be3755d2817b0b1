"""Helpers of the isolation tests (issue 28): file an isolation with an end, take it to KSC, read its schedule."""

from __future__ import annotations

import json
from typing import Any

from responses import filing, jobs, outcomes, workflow
from responses.models import Isolation, ResponseRequest, Source, Status


def file_isolation(user, simulator, *, host: int = 0, **end: Any) -> ResponseRequest:
    """An isolation of the simulator's host filed through the filing path (KSC checks the host), with ``end``."""
    target = simulator.hosts()[host]
    return filing.file_request(
        user=user,
        task="isolateHost",
        target_host=target["KLHST_WKS_HOSTNAME"],
        params={"action": 1},
        justification="C2 beacon from this host (ALERT-28)",
        source=Source.API,
        end=end,
    ).request


def submit(request: ResponseRequest) -> ResponseRequest:
    """The submission job, in this process, then the outcome sweep once (the simulator completes at once)."""
    assert jobs.submit_to_ksc(str(request.uuid)) == "submitted"
    outcomes.sweep()
    request.refresh_from_db()
    assert request.status == Status.SUBMITTED
    return request


def isolated(user, approver, simulator, **end: Any) -> Isolation:
    """An isolation filed, approved, submitted and completed on the host: its schedule row."""
    request = file_isolation(user, simulator, **end)
    workflow.approve(request, user=approver, comment="contain it")
    submit(request)
    return Isolation.objects.select_related("request", "release").get(request=request)


def kinds(request: ResponseRequest) -> list[str]:
    return list(request.events.order_by("seq").values_list("kind", flat=True))


def actions(simulator) -> list[int]:
    """The isolateHost actions of the simulator's incidents, oldest first (1 isolate, 0 release)."""
    bodies = [json.loads(incident["pData"]["KLINCDT_BODY"]) for incident in sorted(simulator.incidents(), key=lambda i: i["id"])]
    return [body["params"]["action"] for body in bodies]
