"""The approval card: every safety fact the request page shows, for a page of the queue at once
(issue 30, point 1).

For each request: its risk (responses/risk.py, from its task and the host's group), what KSC says
about the host now (group, OS, last seen, stale: responses/hosts.py, one KSC look-up per server
for the whole page), whether KSC could check the host id when it was filed (if not, or if KSC
says now that it knows no such host, the card offers no one-click Approve but a link to the request
page), the time left before the approval window closes, the IOC archives with their contents,
and who claimed it. Who else was told is the notifications app's to say (its template tag
``told_on_cards``). The whole page costs a fixed number of queries, whatever its size.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.utils import timezone

from responses import catalog, hosts, ioc_contents, risk
from responses.models import EventKind, RequestEvent, ResponseRequest

CARD_EVENTS = "card_events"


def card_events_prefetch() -> Prefetch:
    """The events a card reads (filing, claims), in one query for the page."""
    return Prefetch(
        "events",
        queryset=RequestEvent.objects.filter(kind__in=[EventKind.FILED, EventKind.REVIEW_CLAIMED]).order_by("seq"),
        to_attr=CARD_EVENTS,
    )


def _archives(rr: ResponseRequest) -> list[dict[str, Any]]:
    task = catalog.TASKS.get(rr.task)
    if task is None or not isinstance(rr.params, dict):
        return []
    names = rr.archive_names if isinstance(rr.archive_names, dict) else {}
    found = []
    for spec in task.fields:
        value = rr.params.get(spec.name)
        if catalog.field_kind(spec) == catalog.IOC_ZIP and isinstance(value, str):
            found.append(
                {
                    "label": spec.label,
                    "file_name": catalog.archive_file_name(names.get(spec.name)),
                    **catalog.ioc_archive_summary(value),
                    "files": [
                        {**file, "count_words": [f"{kind} {count}" for kind, count in file["counts"]]}
                        for file in ioc_contents.contents(value)
                    ],
                }
            )
    return found


def facts(rr: ResponseRequest, host_facts: hosts.HostFacts | None, host_error: str, events: list) -> dict[str, Any]:
    """One card's facts, given what KSC said about its host and its filing and claim events."""
    filed = next((event for event in events if event.kind == EventKind.FILED), None)
    claim = next((event for event in events if event.kind == EventKind.REVIEW_CLAIMED), None)
    unchecked = str((filed.detail or {}).get("host_unchecked", "") or "") if filed is not None else ""
    group = host_facts.host.group_name if host_facts is not None else None
    now = timezone.now()
    return {
        "risk": risk.of(rr.task, rr.params, group),
        "host_facts": host_facts,
        "host_facts_error": host_error,
        "host_unchecked": unchecked,
        # Approve from the card only when KSC checked the host id at filing and does not deny it now
        # (KSC unreachable now: the card says so; the approval waits on KSC anyway).
        "one_click": not unchecked and host_error != hosts.not_known_text(),
        "expires_at": rr.expires_at,
        "expires_in": (rr.expires_at - now) if rr.expires_at and rr.expires_at > now else None,
        "archives": _archives(rr),
        "claim": claim,
    }


def cards(page: list[ResponseRequest]) -> dict[int, dict[str, Any]]:
    """Each request's card facts by its pk; its events prefetched with ``card_events_prefetch``."""
    states = hosts.states([(rr.server, rr.target_host) for rr in page])
    found = {}
    for rr in page:
        host_facts, error = states.get((rr.server, rr.target_host), (None, ""))
        found[rr.pk] = facts(rr, host_facts, error, getattr(rr, CARD_EVENTS, []))
    return found


def risk_now(rr: ResponseRequest) -> risk.Risk:
    """The request's risk with the host's group as KSC says it now (cached briefly): the request page
    shows it, and the approve view asks for the confirmation of a high one."""
    host_facts, _error = hosts.state(rr.target_host, server=rr.server)
    return risk.of(rr.task, rr.params, host_facts.host.group_name if host_facts is not None else None)
