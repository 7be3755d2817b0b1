"""Lists at a million rows: a bounded count shown honestly, and indexes for every order and search."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from responses.paging import BoundedPaginator
from tests.support.pages import add_requests


@pytest.fixture
def small_limit(monkeypatch):
    """A count limit of 5, and no planner's estimate: the bounded count, as on SQLite (see ``estimating``)."""
    from responses import paging

    monkeypatch.setattr(BoundedPaginator, "count_limit", 5)
    monkeypatch.setattr(paging, "planner_estimate", lambda rows: None)


def test_a_list_past_the_count_limit_says_more_than_and_still_pages(client, login, alice, bob, dave, small_limit):
    add_requests(alice, bob, 12)
    login(client, dave)
    page = client.get("/requests/", {"per_page": 25}).content.decode()
    assert "1–5 of more than 5" in page
    assert "narrow the filters" in page
    assert "Page 1 of" not in page  # the number of pages is not known, so it is not claimed


def test_a_list_within_the_count_limit_counts_exactly(client, login, alice, bob, dave, small_limit):
    add_requests(alice, bob, 4)
    login(client, dave)
    page = client.get("/requests/").content.decode()
    assert "1–4 of 4" in page
    assert "more than" not in page


def test_the_api_list_says_whether_its_count_is_exact(alice, bob, dave, small_limit):
    add_requests(alice, bob, 7)
    api = APIClient()
    api.force_authenticate(dave)
    data = api.get("/api/v1/requests/", {"page_size": 2}).json()
    assert (data["count"], data["count_is_exact"], len(data["results"])) == (5, False, 2)
    assert data["next"]
    narrowed = api.get("/api/v1/requests/", {"status": "rejected"}).json()
    assert (narrowed["count"], narrowed["count_is_exact"]) == (2, True)


PLANS = [
    ("all requests, newest first", "", "rr_created_id_idx"),
    # The host directory matched these names: the requests are read through the btree on the name.
    ("host search", "host=WS-0002", "rr_target_host_name_idx"),
    ("word search", "q=row", "trgm"),
    ("requester filter", "requester=ALICE", "rr_requester_name_upper_idx"),
    ("status filter", "status=rejected", "rr_status_created_id_idx"),
    ("task filter", "task=isolateHost", "rr_task_created_id_idx"),
]


@pytest.mark.parametrize(("what", "query", "index"), PLANS, ids=[p[0] for p in PLANS])
def test_each_list_filter_and_order_has_an_index_on_postgresql(postgres, alice, bob, dave, what, query, index):
    """With sequential scans priced out, the list's own query must find the index made for it."""
    from django.http import QueryDict

    from responses.filtersets import RequestFilterSet
    from responses.models import ResponseRequest
    from responses.views.lists import _list_rows

    add_requests(alice, bob, 30)
    rows = _list_rows(RequestFilterSet(QueryDict(query), queryset=ResponseRequest.objects.visible_to(dave)).rows())[:50]
    with postgres.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        # An order is served by an index when sorting is priced out; a substring search by a
        # trigram index when the ordered index scan (which filters row by row) is priced out.
        by_lookup = index == "trgm" or index == "rr_target_host_name_idx"
        cursor.execute("SET LOCAL enable_indexscan = off" if by_lookup else "SET LOCAL enable_sort = off")
        sql, params = rows.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan


def test_keyset_batches_walk_every_row_once_in_key_order(db):
    from django.contrib.auth.models import User

    from responses.paging import keyset_batches

    for index in range(5):
        User.objects.create(username=f"keyset-{index}")
    rows = User.objects.filter(username__startswith="keyset-")
    batches = list(keyset_batches(rows, "pk", 2))
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert [user.username for batch in batches for user in batch] == [f"keyset-{i}" for i in range(5)]
    assert [len(batch) for batch in keyset_batches(rows.exclude(username="keyset-4"), "pk", 2)] == [2, 2]
    assert list(keyset_batches(rows.none(), "pk", 2)) == []


# --- The web lists' estimating paginator (responses/paging.py, EstimatingPaginator) ---------------


@pytest.fixture
def estimating(monkeypatch):
    """Limits small enough for a test's rows: exact up to 50, the page's own count up to 10 estimated."""
    from responses.paging import EstimatingPaginator

    monkeypatch.setattr(EstimatingPaginator, "count_limit", 50)
    monkeypatch.setattr(EstimatingPaginator, "window_limit", 10)


def analyze(connection) -> None:
    """Fresh planner statistics (the rows were made in this test's transaction, which ANALYZE sees)."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE responses_responserequest")


def list_queries(client, params: dict) -> tuple[str, list[str]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get("/requests/", params)
    assert response.status_code == 200
    return response.content.decode(), [query["sql"] for query in captured.captured_queries]


def test_a_list_the_planner_puts_past_the_limit_is_not_counted_and_says_about(
    client, login, postgres, alice, bob, dave, estimating
):
    add_requests(alice, bob, 90)
    analyze(postgres)
    login(client, dave)
    page, sql = list_queries(client, {"per_page": 25})
    assert "1–25 of about 90 (estimated, not counted)" in page
    assert "narrow the filters" in page
    assert "Page 1 of" not in page and "of 90" not in page
    assert any(query.startswith("EXPLAIN") for query in sql)
    # Neither a bounded count of the requests nor a window count: the estimate stands in for them.
    assert not [query for query in sql if "LIMIT 51" in query or "OVER ()" in query]
    # The next page is reached as before, and far pages through the deferred join.
    second, sql = list_queries(client, {"per_page": 25, "page": 2})
    assert "26–50 of about 90" in second
    assert any(' IN (SELECT V0."id" AS "pk" FROM "responses_responserequest" V0 ' in query for query in sql)


def test_in_japanese_the_estimate_says_so(client, login, postgres, alice, bob, dave, estimating):
    add_requests(alice, bob, 90)
    analyze(postgres)
    login(client, dave)
    client.cookies["django_language"] = "ja"
    page, _ = list_queries(client, {"per_page": 25})
    assert "約 90 件中 1～25 件（推定値。数えていません）" in page


def test_a_small_list_is_counted_by_its_own_page_query(client, login, postgres, alice, bob, dave, estimating):
    add_requests(alice, bob, 30)
    analyze(postgres)
    login(client, dave)
    page, sql = list_queries(client, {"status": "rejected", "per_page": 25})  # 10 rejected: estimated at most 10
    assert "1–10 of 10" in page
    assert "about" not in page and "more than" not in page
    listed = [query for query in sql if 'FROM "responses_responserequest"' in query and "OVER ()" in query]
    assert len(listed) == 1, sql
    assert not [query for query in sql if query.startswith("SELECT COUNT(*) FROM (SELECT")]


def test_a_small_list_counted_by_its_page_still_says_more_than_past_the_limit(
    client, login, postgres, alice, bob, dave, monkeypatch
):
    """A planner that guessed low: the page's own count finds more than the limit and says so."""
    from responses.paging import EstimatingPaginator

    monkeypatch.setattr(EstimatingPaginator, "count_limit", 5)
    monkeypatch.setattr(EstimatingPaginator, "window_limit", 1_000)
    add_requests(alice, bob, 3)
    analyze(postgres)  # the statistics say 3 rows; the 9 added after fit the same page, so the planner still says 3
    add_requests(alice, bob, 9)
    login(client, dave)
    page, _ = list_queries(client, {"per_page": 25})
    assert "1–5 of more than 5" in page
    assert "about" not in page


def test_an_estimate_too_high_falls_back_to_the_count_on_a_page_past_the_end(
    client, login, postgres, alice, bob, dave, estimating
):
    """Statistics taken with 100 requests pending, 70 expired since: the planner still says about 100 or more."""
    from responses.models import ResponseRequest, Status

    add_requests(alice, bob, 300)
    analyze(postgres)
    pending = ResponseRequest.objects.filter(status=Status.PENDING_APPROVAL)

    def keep_pending(count: int) -> None:
        pending.exclude(pk__in=list(pending.values_list("pk", flat=True)[:count])).update(status=Status.EXPIRED)

    keep_pending(30)
    login(client, dave)
    first, sql = list_queries(client, {"status": "pending_approval", "per_page": 25})
    assert any(query.startswith("EXPLAIN") for query in sql)
    assert "1–25 of about" in first  # what the planner says, marked as such
    # The last page ends the list: its count is known, whatever the planner said.
    last, _ = list_queries(client, {"status": "pending_approval", "per_page": 25, "page": 2})
    assert "26–30 of 30" in last and "about" not in last
    # A page past the end, which the estimate let seem to exist: counted after all, and the last page shown.
    keep_pending(20)
    past, _ = list_queries(client, {"status": "pending_approval", "per_page": 25, "page": 2})
    assert "1–20 of 20" in past and "about" not in past


@pytest.mark.parametrize("paginator", ["BoundedPaginator", "EstimatingPaginator"])
@pytest.mark.parametrize("per_page", [7, 25])
def test_every_page_holds_the_rows_of_the_list_in_its_order(db, alice, bob, dave, paginator, per_page):
    """Pages past the first come through their ids (a deferred join): the same rows, order and annotations."""
    from responses import paging
    from responses.models import ResponseRequest
    from responses.views.lists import _list_rows

    add_requests(alice, bob, 60)
    rows = _list_rows(ResponseRequest.objects.visible_to(dave))
    expected = list(rows.values_list("pk", "approvals_given"))
    pages = getattr(paging, paginator)(rows, per_page)
    seen = []
    number = 1
    while True:
        page = pages.get_page(number)
        seen.extend((rr.pk, rr.approvals_given) for rr in page)
        if not page.has_next():
            break
        number = page.next_page_number()
    assert seen == expected
    assert pages.count == 60 and pages.count_is_exact


def test_bad_page_numbers_give_the_first_or_the_last_page(client, login, alice, bob, dave):
    add_requests(alice, bob, 30)
    login(client, dave)
    # As Django's Paginator.get_page: not a number, the first page; out of range either way, the last.
    assert "1–25 of 30" in client.get("/requests/", {"page": "x", "per_page": 25}).content.decode()
    assert "26–30 of 30" in client.get("/requests/", {"page": "99", "per_page": 25}).content.decode()
    assert "26–30 of 30" in client.get("/requests/", {"page": "-3", "per_page": 25}).content.decode()
    assert "1–25 of 30" in client.get("/requests/", {"page": "1.5", "per_page": 25}).content.decode()


def test_the_isolation_notes_read_each_hosts_newest_row_through_its_index(postgres):
    """The approval queue's notes (host_state.portal_isolations) stop at each host's newest deciding row."""
    from responses import host_state

    with postgres.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        params = host_state._newest_deciding_params(["a", "b"])
        cursor.execute("EXPLAIN " + host_state.NEWEST_DECIDING_SQL, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "rr_isolation_host_idx" in plan, plan
