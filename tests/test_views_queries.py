"""Every list costs the same number of SQL queries with 100 rows as with 1,000, whatever the page size."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.filing import file_request
from tests.support.pages import add_requests

# Session, user, the user's groups, COUNT, the page (with its subquery), the queue's prefetch of
# decisions and its count of tasks per host, the session's save (SESSION_SAVE_EVERY_REQUEST;
# an UPDATE in a savepoint here), and for approvers the authenticator that verified the session
# (django-otp checks on each request that it still exists), the approval queue's one query for the
# portal's isolation notes, and the menu's count of requests waiting for this user's decision (the
# pending list and its decisions, notifications/context_processors.py), and the menu's one count of
# what needs this user's attention (responses/attention.py).
CEILING = 15
# The approval queue's card (responses/approval_card.py): its filing and claim events, and who was told
# (notifications' told_on_cards), one query each for the whole page.
CARD_QUERIES = 2


def queries(client, url: str, params: dict) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(captured)


LISTS = [
    ("alice", "/requests/mine/", {}),
    ("alice", "/requests/mine/", {"status": "approved"}),
    ("dave", "/requests/", {}),
    ("dave", "/requests/", {"approver": "bob", "q": "row", "host": "ws"}),
    ("bob", "/requests/", {"status": "rejected"}),
    ("bob", "/approvals/", {}),
    ("dave", "/approvals/", {}),
    ("dave", "/requests/export.csv", {}),
    ("alice", "/", {}),
    ("bob", "/", {}),
]


@pytest.mark.parametrize(("username", "url", "params"), LISTS)
def test_it_issues_as_many_queries_for_1000_rows_as_for_100(client, login, alice, bob, dave, username, url, params):
    user = {"alice": alice, "bob": bob, "dave": dave}[username]
    login(client, user)
    add_requests(alice, bob, 100)
    client.get(url, params)  # warm up: the session's first write, content types

    at_100 = {size: queries(client, url, {**params, "per_page": size}) for size in (25, 100)}
    add_requests(alice, bob, 900)
    at_1000 = {size: queries(client, url, {**params, "per_page": size}) for size in (25, 100)}

    print(f"{username} {url} {params}: {at_100[25]} queries")
    assert at_100 == at_1000
    assert len(set(at_1000.values())) == 1  # the page size changes nothing either
    assert at_1000[25] <= CEILING + (CARD_QUERIES if url == "/approvals/" else 0)


def test_the_request_page_costs_the_same_with_a_long_history(client, login, alice, bob, carol):
    """A request's page prefetches its trail: more events or decisions mean no more queries.

    Both requests are closed: a pending one's page also lists who can approve it.
    """
    from responses import workflow

    short = file_request(
        user=alice, task="isolateHost", target_host="h", params={"action": 1}, justification="one"
    )
    long = file_request(
        user=alice, task="isolateHost", target_host="h", params={"action": 1}, justification="two"
    )
    workflow.cancel(short, user=alice)
    workflow.reject(long, user=carol, comment="no")
    login(client, alice)
    client.get(f"/requests/{short.uuid}/")

    assert queries(client, f"/requests/{short.uuid}/", {}) == queries(client, f"/requests/{long.uuid}/", {})
