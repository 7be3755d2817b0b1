"""Filing a request, for the web form and the API alike: the host checked with KSC, then the workflow.

One path below the views, so that a SIEM's request passes the same checks as an analyst's:

- the host id must be one KSC knows: an unknown id is refused at filing
  (``InvalidRequest`` naming ``target_host``, HTTP 400), nothing is filed;
- the host's name stored beside the id is KSC's display name for it, never one the
  caller sent (approvers read the name: a caller could otherwise show them a harmless one);
- when KSC cannot be asked (unreachable, refusing the portal, not configured), the request
  is filed with the host unchecked, and its FILED event says so and why
  (``host_unchecked``): the request's page tells approvers to check the id themselves;
- a form submitted twice (a double click on "File request") files one request.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils.translation import gettext as _

from ksc_client.errors import KscError
from ksc_client.hosts import Host
from responses import catalog, filing_hints, host_directory, isolation, ksc_servers, policy, workflow
from responses.errors import InvalidRequest
from responses.models import EventKind, ResponseRequest, payload_fingerprint
from responses.states import PRIMARY_SERVER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostCheck:
    """What KSC said about a host id: its record, or why it could not be asked."""

    host: Host | None
    error: str = ""  # why KSC could not be asked; "" when it answered

    @property
    def unknown(self) -> bool:
        """KSC answered, and knows no host with this id."""
        return self.host is None and not self.error

    @property
    def display_name(self) -> str:
        return self.host.display_name if self.host is not None else ""


class SamePending(Exception):
    """The same task, host and params are already open: the web form files only on confirmation."""

    def __init__(self, found: list[ResponseRequest]):
        super().__init__(f"{len(found)} open request(s) with the same content")
        self.found = found


def unknown_host_message() -> str:
    return _("KSC knows no host with this id. Find the host in KSC (host search) and use its id.")


def check_host(host_id: str, server: str = PRIMARY_SERVER) -> HostCheck:
    """Ask KSC server ``server`` about ``host_id``; never raises for KSC's trouble (the error says what it was)."""
    try:
        host = ksc_servers.client_for(server).get_host(host_id)
    except (ImproperlyConfigured, ksc_servers.UnknownServer):
        return HostCheck(None, _("KSC is not configured (KSC_HOST), so the host id could not be checked."))
    except KscError as exc:
        log.warning("checking host %r in KSC failed: %s", host_id, exc)
        return HostCheck(None, str(exc))
    if host is not None:
        host_directory.record_seen([host], server)
    return HostCheck(host)


@dataclass(frozen=True)
class Filed:
    request: ResponseRequest
    duplicate: bool = False  # True: this form was filed before; ``request`` is that earlier request


def file_request(
    *,
    user,
    task: Any,
    target_host: Any,
    params: Any,
    justification: Any,
    external_ref: Any = "",
    source: str,
    previewed_at: dt.datetime | None = None,
    same_pending_ok: bool = True,
    archive_names: Any = None,
    server: Any = None,
    end: dict[str, Any] | None = None,
) -> Filed:
    """Check the host with KSC, then file through workflow.file_request.

    ``previewed_at``: when the web form's preview was made. A request this user filed
    since then with the same content and justification is that form filed already
    (a double click): it is returned instead of a second one.
    ``same_pending_ok``: False (the web form, until the analyst confirms) raises SamePending
    when the same task, host and params are already open, filed by anyone.
    ``archive_names``: the web form's file name of each IOC archive (workflow.file_request).
    ``end``: an isolation's end as sent (responses.isolation.END_FIELDS: ``isolate_until``,
    ``isolate_hours``, ``until_released_reason``, ``time_zone``); an isolation without one gets
    ISOLATION_DEFAULT_HOURS. Filing an isolation change while another is in flight on the host is refused.
    """
    # Who may not file, or is over the limit, does not get KSC asked on their behalf.
    policy.may(user, policy.FILE).enforce()
    workflow.check_filing_limit(user)
    check = None
    try:
        server = workflow.clean_server(user, server)
    except ValueError as exc:
        # Before KSC is asked anything: another tenant's server is never contacted on this user's behalf.
        raise InvalidRequest({"server": [str(exc)]}) from None
    try:
        host_id = catalog.clean_target_host(target_host)
    except ValueError:
        host_id = None  # the workflow names what is wrong with it
    if host_id is not None:
        check = check_host(host_id, server)
        if check.unknown:
            raise InvalidRequest({"target_host": [unknown_host_message()]})
    cleaned_end, end_errors = isolation.clean_end(task, _cleaned_or_raw(task, params), end or {})
    fields = {
        "task": task,
        "target_host": target_host,
        "params": params,
        "justification": justification,
        "external_ref": external_ref,
        "target_host_name": check.display_name if check is not None else "",
        "source": source,
        "host_unchecked": check.error if check is not None else "",
        "archive_names": archive_names,
        "server": server,
        "isolation_end": cleaned_end,
        "more_errors": end_errors,
        "before_create": _one_isolation_change,
    }
    if previewed_at is None:
        return Filed(workflow.file_request(user=user, **fields))
    with transaction.atomic():
        # Holding the user's row lock, look for a request this user filed from this same
        # preview: same content (fingerprint), same justification, filed after the preview
        # was made. (The locked row is also a plain User, where a request's user is a lazy proxy.)
        locked = get_user_model().objects.select_for_update().get(pk=user.pk)
        duplicate = (
            ResponseRequest.objects.visible_to(locked)
            .filter(
                requester=locked,
                fingerprint=payload_fingerprint(task, target_host, params, server, cleaned_end),
                justification=str(justification or "").strip(),
                created_at__gte=previewed_at,
            )
            .first()
        )
        if duplicate is not None:
            return Filed(duplicate, duplicate=True)
        if not same_pending_ok:
            same = filing_hints.same_pending(task, target_host, params, server)
            if same:
                raise SamePending(same)
        return Filed(workflow.file_request(user=locked, **fields))


def _cleaned_or_raw(task: Any, params: Any) -> Any:
    """The params as the catalog cleans them (action "1" is 1), or as sent when they do not clean (the workflow says why)."""
    if task != "isolateHost":
        return params  # only isolateHost's action decides an end (an IOC archive is not unpacked twice)
    try:
        return catalog.clean_params(task, params)
    except (catalog.ParamErrors, KeyError, TypeError, ValueError):
        return params


def _one_isolation_change(task: str, host: str, params: Any, server: str) -> None:
    """In the filing's transaction: one isolation change in flight per host (responses.isolation)."""
    isolation.refuse_if_in_flight(task, params, host, server)


def host_unchecked(rr: ResponseRequest, events: list | None = None) -> str:
    """Why KSC could not check the request's host when it was filed; "" when it did (or before this was kept)."""
    for event in events if events is not None else rr.events.filter(kind=EventKind.FILED):
        if event.kind == EventKind.FILED:
            return str(event.detail.get("host_unchecked", "") or "")
    return ""
