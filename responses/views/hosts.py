"""Host pages: the host search (a page without JS and the type-ahead's fragment) and the host page."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from ksc_client.hosts import Host
from responses import catalog, host_directory, hosts, isolation, policy, throttle, workflow
from responses.errors import RateLimited
from responses.host_state import HostMark, portal_isolation, portal_isolations, portal_marks
from responses.models import OPEN, ResponseRequest
from responses.views.common import _paginate, _query_without_page, _refused
from responses.views.lists import _list_rows

log = logging.getLogger(__name__)


# Shortest query the host search sends to KSC: one letter would list the whole estate.
MIN_HOST_QUERY = 2
# Longest: no host name, FQDN, address or id is longer (the API's HostQuerySerializer says the same).
MAX_HOST_QUERY = 255
HOST_RESULTS = 25


@login_required
@require_GET
def host_search(request: HttpRequest) -> HttpResponse:
    """Find a host in KSC by display name, FQDN or IP. A page without JS; a fragment for the type-ahead."""
    allowed = policy.may(request.user, policy.FILE)
    if not allowed:
        return _refused(request, allowed.reason)
    query = request.GET.get("q", "").strip()
    task = request.GET.get("task", "") if request.GET.get("task", "") in catalog.TASKS else ""
    context: dict[str, Any] = {"q": query, "task": task, "hosts": [], "error": "", "too_short": False, "refused": ""}
    status = 200
    if len(query) > MAX_HOST_QUERY:
        context.update(q="", refused=_too_long_query())
        status = 400
    elif len(query) < MIN_HOST_QUERY:
        context["too_short"] = bool(query)
    else:
        try:
            throttle.count(request.user, throttle.HOST_SEARCH)
            found = _search_servers(request.user, query)
        except RateLimited as exc:
            context["refused"] = exc.message
            status = 429
        except ImproperlyConfigured:
            context["error"] = _("KSC is not configured (KSC_HOST), so hosts cannot be looked up.")
        else:
            context["error"] = hosts.everything_failed(found)
            context.update(_found_context(found, task))
    fragment = request.GET.get("fragment") == "1"
    template = "responses/_host_results.html" if fragment else "responses/host_search.html"
    return render(request, template, context, status=status)


def _too_long_query() -> str:
    return _("The search is longer than %(max)d characters: type the start of a host name, an address or an id.") % {
        "max": MAX_HOST_QUERY
    }


def _search_servers(user, query: str) -> hosts.HostSearch:
    """Every server the user may act on, in parallel (responses/hosts.py); the directory learns the hosts."""
    found = hosts.search_servers(user, query, limit=HOST_RESULTS)
    for server, why in found.failed_servers:
        log.warning("host search for %r failed on KSC server %s: %s", throttle.for_log(query), server, why)
    return found


def _found_context(found: hosts.HostSearch, task: str) -> dict[str, Any]:
    """The results as the pages show them: each host with its server, and what did not answer."""
    several = len(found.servers) > 1
    by_server: dict[str, list[Host]] = {}
    for item in found.hosts:
        by_server.setdefault(item.server, []).append(item.host)
    isolations = {
        server: portal_isolations([host.id for host in server_hosts], server)
        for server, server_hosts in by_server.items()
    }
    return {
        "hosts": [
            {
                "host": item.host,
                "server": item.server,
                "facts": hosts.facts_of(item.host),
                "isolation": isolations[item.server].get(item.host.id),
                # The server only when there are several: one server's links stay as they were.
                "use_url": _use_host_url(item.host, task, item.server if several else ""),
            }
            for item in found.hosts
        ],
        "several_servers": several,
        # Never fewer hosts silently: the servers (and secondaries) that did not answer are named.
        "failed_servers": found.failed_servers if several else [],
        "failed_secondaries": found.failed_secondaries,
    }


def _use_host_url(host: Host, task: str, server: str = "") -> str:
    """The new-request form with this host filled in (the "Use this host" link works without JS)."""
    return _new_request_url(host.id, hosts.display_name(host), server, task=task)


def _new_request_url(host_id: str, name: str, server: str = "", *, task: str = "", action: str = "") -> str:
    """The new-request form for this host (and task; ``action``: isolateHost's, "0" releases)."""
    params = {"target_host": host_id, "target_host_name": name}
    if server:
        params["server"] = server
    if task:
        params["task"] = task
    if action:
        params["params-action"] = action
    return f"{reverse('responses:new')}?{urlencode(params)}"


HOST_LIST_SIZE = 50


class HostPaginator(Paginator):
    """Hosts number in the thousands: counted exactly (the pages' pagination reads these two)."""

    count_is_exact = True
    count_estimate = None


@login_required
@require_GET
def host_list(request: HttpRequest) -> HttpResponse:
    """Every host the portal knows on the reader's servers (the host directory), newest seen first; ``?q=`` searches.

    Each host with the portal's badge (isolated by the portal, released, unknown: responses/host_state.py),
    when the portal last heard of it, and its open requests this reader may see.
    """
    user = request.user
    allowed = policy.may_open(user, policy.HOST_PAGE)
    if not allowed:
        return _refused(request, allowed.reason)
    query = request.GET.get("q", "").strip()
    error = ""
    if len(query) > MAX_HOST_QUERY:
        error, query = _too_long_query(), ""
    rows = host_directory.listed(policy.server_filter(user), query)
    page = HostPaginator(rows, HOST_LIST_SIZE).get_page(request.GET.get("page"))
    listed = list(page.object_list)
    marks: dict[str, dict[str, HostMark]] = {}
    for server in {row["server"] for row in listed}:
        marks[server] = portal_marks([row["host_id"] for row in listed if row["server"] == server], server)
    open_counts = {
        (item["server"], item["target_host"]): item["count"]
        for item in ResponseRequest.objects.visible_to(user)
        .filter(status__in=OPEN, target_host__in={row["host_id"] for row in listed})
        .values("server", "target_host")
        .annotate(count=Count("pk"))
        .order_by()
    }
    names = host_directory.newest_names((row["server"], row["host_id"]) for row in listed)
    page.object_list = [
        {
            **row,
            "name": names.get((row["server"], row["host_id"]), ""),
            "mark": marks[row["server"]].get(row["host_id"]),
            "open": open_counts.get((row["server"], row["host_id"]), 0),
        }
        for row in listed
    ]
    return render(
        request,
        "responses/host_list.html",
        {
            "q": query,
            "error": error,
            "page": page,
            "query": _query_without_page(request),
            "several_servers": len(policy.acting_servers(user)) > 1,
        },
        status=400 if error else 200,
    )


@login_required
@require_GET
def host_on_default_server(request: HttpRequest, host_id: str) -> HttpResponse:
    """/hosts/<id>/ (links from before several servers): the host on this user's default server."""
    server = workflow.default_server(request.user)
    if server is None:
        raise Http404(_("Name the host's KSC server: /hosts/<server>/<host id>/."))
    return redirect("responses:host", server=server, host_id=host_id)


@login_required
@require_GET
def host_detail(request: HttpRequest, server: str, host_id: str) -> HttpResponse:
    """Every request for the host this user may see, with its outcome; KSC's state of the host beside.

    Keyed by server and host id: host ids are unique per KSC server only. Another tenant's
    server answers 404, like a server that does not exist.
    """
    user = request.user
    allowed = policy.may_open(user, policy.HOST_PAGE)
    if not allowed:
        return _refused(request, allowed.reason)
    if not policy.works_on(user, server):
        raise Http404(_("No such KSC server."))
    try:
        host_id = catalog.clean_target_host(host_id)
    except ValueError as exc:
        raise Http404(str(exc)) from None
    requests = ResponseRequest.objects.visible_to(user).filter(server=server, target_host=host_id)
    page = _paginate(request, _list_rows(requests))
    facts, facts_error = hosts.state(host_id, server=server)
    # The name a request was filed with is read only when KSC gave none.
    filed_as = requests.exclude(target_host_name="").values_list("target_host_name", flat=True)
    name = hosts.name_of(host_id, facts, filed_as=lambda: filed_as.first() or "")
    mark = portal_marks([host_id], server).get(host_id)
    new_url = release_url = ""
    if policy.may(user, policy.FILE):
        several = len(policy.acting_servers(user)) > 1
        new_url = _new_request_url(host_id, name, server if several else "")
        if mark is not None and mark.isolated:
            release_url = _new_request_url(host_id, name, server if several else "", task="isolateHost", action="0")
    return render(
        request,
        "responses/host.html",
        {
            "host_id": host_id,
            "server": server,
            "host_name": name,
            "host_facts": facts,
            "host_facts_error": facts_error,
            "isolation": portal_isolation(host_id, server),
            "mark": mark,
            "new_url": new_url,
            "release_url": release_url,
            # Its isolation's end, when the portal keeps one (responses/isolation.py)
            "isolated_rows": isolation.isolated_now(request.user, host_id=host_id, server=server),
            "now": timezone.now(),
            "page": page,
            "caption": _("Requests for this host"),
        },
    )
