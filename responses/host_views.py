"""The host page: KSC's facts about one host, the portal's own knowledge, and every request for it."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from responses import catalog, policy
from responses.host_state import ksc_facts, portal_isolation
from responses.models import ResponseRequest
from responses.views import _list_rows, _paginate, _refused


@login_required
@require_GET
def host_on_default_server(request: HttpRequest, host_id: str) -> HttpResponse:
    """/hosts/<id>/ (links from before several servers): the host on this user's default server."""
    from responses.workflow import default_server

    server = default_server(request.user)
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
    if not policy.may_see_hosts(user):
        return _refused(request, _("Only analysts, approvers and auditors see hosts."))
    if not policy.works_on(user, server):
        raise Http404(_("No such KSC server."))
    try:
        host_id = catalog.clean_target_host(host_id)
    except ValueError as exc:
        raise Http404(str(exc)) from None
    requests = ResponseRequest.objects.visible_to(user).filter(server=server, target_host=host_id)
    page = _paginate(request, _list_rows(requests))
    facts, facts_error = ksc_facts(host_id)
    name = facts.host.display_name if facts else ""
    if not name:
        name = requests.exclude(target_host_name="").values_list("target_host_name", flat=True).first() or host_id
    return render(
        request,
        "responses/host.html",
        {
            "host_id": host_id,
            "server": server,
            "host_name": name,
            "host_facts": facts,
            "host_facts_error": facts_error,
            "isolation": portal_isolation(host_id),
            "page": page,
            "caption": _("Requests for this host"),
        },
    )
