"""The list pages' Python cost (issue 24, point 5) without a change in what they show.

benchmarks/list_profile.py found the filter form's templates, the approval queue's verdicts and
labels, and "Isolated now"'s URLs and dates costing most of each page; these tests pin that the
cheaper ways say exactly what the template and the policy said before: the filter fields are
Django's own rendering (reused, bounded, by value and language), the isolated rows' links and
dates are reverse()'s and the date filter's, one verdict per queued request answers as
``allowed_actions`` did, and reveal_hidden still marks what it marked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

from django.contrib.auth.models import Group, User
from django.http import QueryDict
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.timesince import timeuntil

from accounts import roles
from responses import policy, workflow
from responses.filtersets import RequestFilterSet
from responses.models import ResponseRequest, Status
from responses.templatetags import list_tags
from responses.templatetags.reveal import reveal_hidden
from tests.support.pages import file, page, set_status


def djangos_fields(form) -> str:
    """What all_requests.html rendered before: each field through Django's form templates."""
    return "".join(f'<div class="field">{field.as_field_group()}</div>' for field in form)


def filter_form(query: str):
    filters = RequestFilterSet(QueryDict(query), queryset=ResponseRequest.objects.none())
    filters.is_valid()
    return filters.form


def test_filter_fields_are_djangos_rendering_reused_by_value(db):
    list_tags.forget_filter_fields()
    for query in ("", "status=rejected&host=TKY-WS-01&since=2026-01-02", "since=garbage&task=nope"):
        first = list_tags.filter_fields(filter_form(query))
        assert first == djangos_fields(filter_form(query))
        assert list_tags.filter_fields(filter_form(query)) is first  # the same HTML, not rendered again
    wrong = list_tags.filter_fields(filter_form("since=garbage"))
    assert "Enter a day (YYYY-MM-DD)" in wrong and 'value="garbage"' in wrong
    other = list_tags.filter_fields(filter_form("host=TKY-WS-02"))
    assert 'value="TKY-WS-02"' in other and 'value="TKY-WS-01"' not in other
    with translation.override("ja"):
        japanese = list_tags.filter_fields(filter_form(""))
        assert japanese == djangos_fields(filter_form(""))
    assert japanese != list_tags.filter_fields(filter_form(""))


def test_filter_fields_kept_are_bounded(db, monkeypatch):
    list_tags.forget_filter_fields()
    monkeypatch.setattr(list_tags, "FILTER_FIELDS_KEPT", 3)
    made = [list_tags.filter_fields(filter_form(f"requester=user{number}")) for number in range(6)]
    # The newest three are kept (the same HTML object); the oldest were pushed out and render again, the same.
    assert list_tags.filter_fields(filter_form("requester=user5")) is made[5]
    again = list_tags.filter_fields(filter_form("requester=user0"))
    assert again is not made[0] and again == made[0] == djangos_fields(filter_form("requester=user0"))


def test_a_wrong_filter_still_shows_its_error_and_no_rows_when_the_fields_are_reused(client, login, alice, dave):
    file(alice)
    login(client, dave)
    for _ in range(2):
        html = page(client.get("/requests/", {"since": "2026-13-45"}))
        assert "Enter a day (YYYY-MM-DD)" in html
        assert 'class="requests"' not in html and "No requests." in html
    assert 'class="requests"' in page(client.get("/requests/"))


def isolated_item(server: str, host_id: str, *, since, release_at, held_by: str = "", ends_by_kes: bool = False):
    request = SimpleNamespace(server=server, uuid=uuid.uuid4(), requester_username="alice")
    row = SimpleNamespace(request=request, host_id=host_id, host_name="", held_by=held_by)
    return SimpleNamespace(
        isolation=row, since=since, release_at=release_at, held=bool(held_by), ends_by_kes=ends_by_kes
    )


def test_isolated_rows_say_what_the_template_filters_said(settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    now = timezone.now()
    later = now + dt.timedelta(hours=5, minutes=3)
    past = now - dt.timedelta(minutes=2)
    items = [
        isolated_item("primary", "host with space%ü", since=now - dt.timedelta(days=1), release_at=later),
        isolated_item("osaka", "TKY-WS-0142", since=None, release_at=past),
        isolated_item("primary", "h3", since=now, release_at=None, held_by="carol"),
    ]
    with timezone.override("Asia/Tokyo"):
        rows = list_tags.isolated_rows(items, now)
        first, second, third = rows
        assert first.host_url == reverse("responses:host", kwargs={"server": "primary", "host_id": "host with space%ü"})
        assert first.host_url.endswith("/host%20with%20space%25%C3%BC/")
        assert second.host_url == reverse("responses:host", kwargs={"server": "osaka", "host_id": "TKY-WS-0142"})
        assert first.request_url == reverse("responses:detail", kwargs={"key": items[0].isolation.request.uuid})
        assert first.since == date_filter(timezone.localtime(items[0].since), "Y-m-d H:i T")
        assert first.since.endswith(" JST")
        assert first.since_iso == date_filter(timezone.localtime(items[0].since), "c")
        assert first.release == date_filter(timezone.localtime(later), "Y-m-d H:i T")
        assert first.time_left == timeuntil(later, now) and "5" in first.time_left
        assert (second.since, second.since_iso, second.time_left) == ("", "", "due now")
        assert (third.release, third.time_left, third.held_by) == ("", "", "carol")


def test_isolated_page_lists_links_and_dates(client, login, alice, dave, settings):
    """The page through the view: the row's link, its dates and time left, as the template's tags made them."""
    from responses.isolation import isolated_now
    from responses.models import Isolation, IsolationState

    rr = set_status(file(alice), Status.SUBMITTED)
    since = timezone.now() - dt.timedelta(hours=1)
    Isolation.objects.create(
        request=rr,
        host_id=rr.target_host,
        host_name="TKY-WS-0142",
        state=IsolationState.ACTIVE,
        since=since,
        release_at=timezone.now() + dt.timedelta(hours=3),
    )
    assert len(isolated_now(dave)) == 1
    login(client, dave)
    html = page(client.get("/isolated/"))
    host = reverse("responses:host", kwargs={"server": rr.server, "host_id": rr.target_host})
    assert f'<a href="{host}">TKY-WS-0142</a>' in html
    assert f'<a href="/requests/{rr.uuid}/">request</a> (alice)' in html
    local = timezone.localtime(since)
    assert f'<time datetime="{local.isoformat()}">{date_filter(local, "Y-m-d H:i T")}</time>' in html
    assert "2\xa0hours" in html  # time left, as |timeuntil wrote it


def test_one_verdict_per_queued_request_answers_as_allowed_actions(alice, bob, carol, dave):
    both = User.objects.create_user("erin", "erin@example.test", "erin-password-1234")
    both.groups.add(Group.objects.get_or_create(name=roles.ANALYSTS)[0])
    both.groups.add(Group.objects.get_or_create(name=roles.APPROVERS)[0])
    waiting = file(alice)
    own = file(both)
    decided = file(alice)
    workflow.approve(decided, user=bob)
    submitted = set_status(file(alice), Status.SUBMITTED)
    for user in (bob, carol, dave, both, alice):
        for rr in (waiting, own, decided, submitted):
            rr = ResponseRequest.objects.get(pk=rr.pk)
            actions, verdict = policy.decision_verdict(user, rr)
            before = [a for a in policy.allowed_actions(user, rr) if a in (policy.APPROVE, policy.REJECT)]
            assert list(actions) == before, (user.username, rr.pk)
            assert verdict.reason == policy.may(user, policy.APPROVE, rr).reason
    assert policy.decision_verdict(carol, ResponseRequest.objects.get(pk=waiting.pk))[0] == (
        policy.APPROVE,
        policy.REJECT,
    )
    assert "their own request" in policy.decision_verdict(both, own)[1].reason


def test_reveal_hidden_still_marks_what_plain_ascii_can_hide():
    assert reveal_hidden("TKY-WS-0142 <b>") == "TKY-WS-0142 &lt;b&gt;"
    assert reveal_hidden("line one\r\nline two") == "line one\r\nline two"
    assert 'title="U+0009' in reveal_hidden("a\tb")  # a tab is ASCII but not what it looks like
    assert 'title="U+0007' in reveal_hidden("bell\x07")
    assert 'title="U+00A0' in reveal_hidden("no\u00a0break")
    assert 'title="U+200B' in reveal_hidden("zero\u200bwidth")


def test_isolated_page_reads_the_table_columns_in_the_same_queries_for_one_host_or_four(
    client, login, alice, dave, settings
):
    """isolated_now(table_only=True) defers what the table does not show: nothing is then read row by row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from responses.models import Isolation, IsolationState

    settings.REQUEST_RATE_LIMIT = 0

    def isolate(host: str) -> None:
        rr = set_status(file(alice, target_host=host), Status.SUBMITTED)
        Isolation.objects.create(
            request=rr,
            host_id=host,
            host_name=f"name-{host}",
            state=IsolationState.ACTIVE,
            since=timezone.now(),
            # host-2 is held by carol: until released, the table says who holds it
            release_at=None if host.endswith("2") else timezone.now() + dt.timedelta(hours=1),
            until_released=host.endswith("2"),
            held_by="carol" if host.endswith("2") else "",
        )

    login(client, dave)
    isolate("host-1")
    client.get("/isolated/")
    with CaptureQueriesContext(connection) as one:
        html = page(client.get("/isolated/"))
    assert html.count('class="isolated-host') == 1
    for host in ("host-2", "host-3", "host-4"):
        isolate(host)
    with CaptureQueriesContext(connection) as four:
        html = page(client.get("/isolated/"))
    assert html.count('class="isolated-host') == 4 and "held by carol" in html and "name-host-3" in html
    assert len(four) == len(one)
