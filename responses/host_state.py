"""The host before acting: what KSC says about it, and what the portal's own records say.

Two sources, always labelled apart:

- KSC: OS (``KLHST_WKS_OS_NAME``), last seen (``KLHST_WKS_LAST_VISIBLE``), group;
  warnings when the host has not been seen for HOST_STALE_AFTER seconds (the
  task waits until it connects) or runs an OS that KES EDR responses do not
  cover (they need Kaspersky Endpoint Security for Windows 12.9+).
- The portal: isolation is not an attribute KSC documents, so "isolated" is
  only what this portal's own isolateHost requests and their outcomes say,
  until a release whose outcome is completed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from responses import host_directory
from responses.ksc.factory import get_client
from responses.ksc.hosts import Host
from responses.models import OutcomeState, ResponseRequest, Status
from responses.outcomes import outcome_of

# KSC's answer about a host is kept this long for pages (the request page refreshes itself).
HOST_CACHE_SECONDS = 60


@dataclass(frozen=True)
class HostFacts:
    """What KSC says about a host, with the warnings an analyst needs before acting."""

    host: Host
    warnings: list[str] = field(default_factory=list)

    @property
    def seen(self) -> dt.datetime | None:
        return self.host.last_visible or self.host.last_seen


def os_covered(os_name: str) -> bool:
    """KES EDR responses run on Kaspersky Endpoint Security for Windows (12.9+); other OSes get no task."""
    return "windows" in os_name.casefold()


def facts_of(host: Host, now: dt.datetime | None = None) -> HostFacts:
    now = now or timezone.now()
    warnings = []
    seen = host.last_visible or host.last_seen
    stale_after = dt.timedelta(seconds=settings.HOST_STALE_AFTER)
    if seen is None:
        warnings.append(_("KSC has never seen this host: the task will wait until the host connects."))
    elif now - seen > stale_after:
        warnings.append(
            _("KSC has not seen this host since %(when)s: the task will wait until the host connects.")
            % {"when": timezone.localtime(seen).strftime("%Y-%m-%d %H:%M %Z")}
        )
    if host.os_name and not os_covered(host.os_name):
        warnings.append(
            _(
                "This host runs %(os)s: KES EDR responses cover only Kaspersky Endpoint Security for Windows "
                "12.9 or later, so KSC will create no task for it."
            )
            % {"os": host.os_name}
        )
    return HostFacts(host=host, warnings=warnings)


def ksc_facts(host_id: str) -> tuple[HostFacts | None, str]:
    """KSC's facts about a host (cached briefly), or None and why not; never raises for KSC trouble."""
    from django.core.exceptions import ImproperlyConfigured

    from responses.ksc.errors import KscError

    key = f"portal:ksc-host:{host_id}"
    host = cache.get(key)
    if host is None:
        try:
            host = get_client().get_host(host_id)
        except ImproperlyConfigured:
            return None, _("KSC is not configured (KSC_HOST), so the host's state cannot be shown.")
        except KscError as error:
            return None, _("KSC could not be asked about the host: %(error)s") % {"error": error}
        if host is None:
            return None, _("KSC does not know this host id.")
        host_directory.record_seen([host])
        cache.set(key, host, HOST_CACHE_SECONDS)
    return facts_of(host), ""


@dataclass(frozen=True)
class IsolationNote:
    """The portal's own knowledge: the host was isolated by this request, and no completed release followed."""

    request: ResponseRequest
    at: dt.datetime
    outcome_label: str


def portal_isolation(host_id: str) -> IsolationNote | None:
    """The latest submitted isolation of the host not followed by a release that completed, or None."""
    return portal_isolations([host_id]).get(host_id)


# How many of each host's newest submitted isolations and releases a list reads first: the
# newest one nearly always decides; a host undecided after them is read in full (rare).
NEWEST_PER_HOST = 5


def portal_isolations(host_ids: list[str]) -> dict[str, IsolationNote]:
    """The portal's isolation note for each of these hosts that has one (lists, the picker).

    One query of at most NEWEST_PER_HOST rows per host, whatever each host's history: a
    year of requests gives a host hundreds of isolations and releases, and loading them
    all for every host of a page took a second at a million requests (issue 24).
    """
    submitted = ResponseRequest.objects.filter(
        target_host__in=host_ids, task="isolateHost", status=Status.SUBMITTED
    ).select_related("outcome")
    newest = submitted.annotate(
        newest=Window(RowNumber(), partition_by=[F("target_host")], order_by=[F("submitted_at").desc(), F("id").desc()])
    ).filter(newest__lte=NEWEST_PER_HOST)
    notes: dict[str, IsolationNote] = {}
    seen: dict[str, int] = {}
    decided = _note_isolations(newest.order_by("target_host", "-submitted_at", "-id"), notes, seen)
    longer = [host for host, count in seen.items() if count >= NEWEST_PER_HOST and host not in decided]
    if longer:
        _note_isolations(submitted.filter(target_host__in=longer).order_by("target_host", "-submitted_at", "-id"), notes, {})
    return notes


def _note_isolations(requests, notes: dict[str, IsolationNote], seen: dict[str, int]) -> set[str]:
    """Fill ``notes`` from ``requests`` (newest first per host); the hosts decided, and rows seen per host."""
    decided: set[str] = set()
    for request in requests:  # newest first per host: the first isolation or completed release decides
        seen[request.target_host] = seen.get(request.target_host, 0) + 1
        host = request.target_host
        if host in decided or not isinstance(request.params, dict):
            continue
        outcome = outcome_of(request)
        state = outcome.state if outcome else OutcomeState.WAITING
        action = request.params.get("action")
        if action == 0 and state == OutcomeState.COMPLETED:
            decided.add(host)  # released, and the endpoint confirmed it
        elif action == 1 and state not in (OutcomeState.FAILED, OutcomeState.NO_TASK, OutcomeState.GONE):
            decided.add(host)
            notes[host] = IsolationNote(
                request=request, at=request.submitted_at, outcome_label=str(OutcomeState(state).label).lower()
            )
    return decided
