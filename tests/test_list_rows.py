"""The request lists' rows (issue 24, point 5): computed once per page, they still say what they said.

The table's labels are translated once per page and each row's values come from
``{% request_rows %}`` (responses/templatetags/list_tags.py); these tests pin every
cell of a row, in English and in Japanese, on the three pages that show the table, and
that templates are cached as in production (benchmarks/list_render.py times them).
"""

from __future__ import annotations

import re

from django.template import engines
from django.utils import timezone

from responses import workflow
from responses.models import OutcomeState, ResponseOutcome, ResponseRequest, Status
from tests.support.pages import HOST, file, page, set_status


def rows_of(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_each_cell_of_a_row_in_english(client, login, settings, alice, bob, dave):
    settings.APPROVALS_REQUIRED = 2
    waiting = file(alice)
    workflow.approve(waiting, user=bob)
    settings.APPROVALS_REQUIRED_BY_TASK = {"isolateHost": 0}  # frozen at filing: this one needs none
    done = set_status(file(alice, target_host_name=""), Status.SUBMITTED)
    settings.APPROVALS_REQUIRED_BY_TASK = {}
    ResponseRequest.objects.filter(pk=done.pk).update(ksc_incident_id=4711)
    ResponseOutcome.objects.create(request=done, state=OutcomeState.COMPLETED)
    login(client, dave)
    rows = rows_of(page(client.get("/requests/")))
    assert len(rows) == 2
    newest, oldest = rows
    filed = timezone.localtime(ResponseRequest.objects.get(pk=done.pk).created_at)
    assert f'<time datetime="{filed.isoformat()}">{filed:%Y-%m-%d %H:%M}</time>' in newest
    assert (
        f'<a href="/requests/{done.uuid}/"><strong>Network isolation</strong></a><br><span class="describe">Isolate the host from the network</span>'
        in newest
    )
    assert f'<td data-label="Host">{HOST}</td>' in newest  # no name: the id alone
    assert 'data-status="submitted">Submitted</span>' in newest and "badge-green" in newest
    assert 'data-outcome="completed"' in newest and 'title="Outcome on the host, from KSC\'s task"' in newest
    assert '<td data-label="Approvals">not needed</td>' in newest
    assert '<td data-label="KSC incident">4711</td>' in newest
    assert f'TKY-WS-0142<br><code class="host-id">{HOST}</code>' in oldest
    assert 'data-status="pending_approval">Pending approval</span>' in oldest and "badge-amber" in oldest
    assert '<td data-label="Approvals">1 of 2</td>' in oldest
    assert '<span class="muted">—</span>' in oldest  # no outcome before KSC
    assert '<td data-label="Requester">alice</td>' in oldest and '<td data-label="KSC incident">—</td>' in oldest


def test_the_same_row_in_japanese(client, login, alice, dave):
    file(alice)
    login(client, dave)
    client.post("/i18n/setlang/", {"language": "ja", "next": "/"})
    html = page(client.get("/requests/"))
    (row,) = rows_of(html)
    assert '<td data-label="申請"><time' in row
    assert "承認 0/1" in row
    assert 'data-status="pending_approval">承認待ち</span>' in row
    assert "Pending approval" not in row and "Approvals" not in row


def test_my_requests_and_the_host_page_show_the_same_rows(client, login, alice):
    rr = file(alice)
    login(client, alice)
    mine = rows_of(page(client.get("/requests/mine/")))
    host = rows_of(page(client.get(f"/hosts/primary/{HOST}/")))
    assert len(mine) == 1 and mine == host
    assert f'href="/requests/{rr.uuid}/"' in mine[0] and "0 of 1" in mine[0]


def test_templates_are_cached_as_in_production(settings):
    """The cached loader: a template is parsed once per process, not on every page."""
    assert settings.DEBUG is False
    loaders = engines["django"].engine.template_loaders
    assert [type(loader).__module__ for loader in loaders] == ["django.template.loaders.cached"]
    first = engines["django"].get_template("responses/_request_table.html").template
    assert engines["django"].get_template("responses/_request_table.html").template is first


def test_isolation_notes_find_the_deciding_row_however_deep_in_a_hosts_history(settings, alice):
    """portal_isolations asks the database for each host's deciding row, however deep in its history."""
    from responses import host_state
    from tests.support.pages import isolation

    settings.REQUEST_RATE_LIMIT = 0
    old = isolation(alice, "deep", 1, OutcomeState.COMPLETED, 1)
    for number in range(7):  # newer failed isolations decide nothing
        isolation(alice, "deep", 1, OutcomeState.FAILED, 10 + number)
    isolation(alice, "shallow", 1, OutcomeState.PENDING, 30)
    for number in range(7):
        isolation(alice, "released", 1, OutcomeState.COMPLETED, 40 + number)
    isolation(alice, "released", 0, OutcomeState.COMPLETED, 60)
    notes = host_state.portal_isolations(["deep", "shallow", "released", "unknown"])
    assert set(notes) == {"deep", "shallow"}
    assert notes["deep"].request.pk == old.pk
    assert notes["shallow"].outcome_label == "pending on the host"
