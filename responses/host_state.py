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
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from ksc_client.hosts import Host
from responses import host_directory
from responses.ksc_servers import get_client
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

    from ksc_client.errors import KscError

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


# Outcomes after which an isolation does not hold: it never reached the endpoint.
ISOLATION_DID_NOT_HOLD = (OutcomeState.FAILED, OutcomeState.NO_TASK, OutcomeState.GONE)


def portal_isolations(host_ids: list[str]) -> dict[str, IsolationNote]:
    """The portal's isolation note for each of these hosts that has one, in one query (lists, the picker).

    Per host, the newest submitted request that decides: an isolation that did not fail, or a
    release the endpoint completed; a note when it is an isolation. The database picks that
    one row per host: a year of requests gives a host hundreds of isolations and releases, and
    loading them all for every host of a page took a second at a million requests (issue 24).
    """
    deciding = Q(params__action=1) & (Q(outcome__isnull=True) | ~Q(outcome__state__in=ISOLATION_DID_NOT_HOLD)) | Q(
        params__action=0, outcome__state=OutcomeState.COMPLETED
    )
    newest = (
        ResponseRequest.objects.filter(target_host__in=host_ids, task="isolateHost", status=Status.SUBMITTED)
        .filter(deciding)
        .select_related("outcome")
        .annotate(
            newest=Window(
                RowNumber(), partition_by=[F("target_host")], order_by=[F("submitted_at").desc(), F("id").desc()]
            )
        )
        .filter(newest=1)
    )
    notes: dict[str, IsolationNote] = {}
    for request in newest:
        if not isinstance(request.params, dict) or request.params.get("action") != 1:
            continue  # released, and the endpoint confirmed it
        outcome = outcome_of(request)
        state = outcome.state if outcome else OutcomeState.WAITING
        notes[request.target_host] = IsolationNote(
            request=request, at=request.submitted_at, outcome_label=str(OutcomeState(state).label).lower()
        )
    return notes
