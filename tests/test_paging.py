"""Lists at a million rows: a bounded count shown honestly, and indexes for every order and search."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from responses.paging import BoundedPaginator
from tests.support.pages import add_requests


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(BoundedPaginator, "count_limit", 5)


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
