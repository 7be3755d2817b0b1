"""Idempotency-Key: a retried POST returns the first answer instead of acting twice.

A SIEM whose call timed out cannot know whether the portal filed the request;
it retries with the same key. These tests count requests, events and approvals
to show that the retry did nothing but answer.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from django.db import connections
from django.utils import timezone

from accounts.tokens import issue_token
from responses import workflow
from responses.models import Decision, IdempotencyKey, RequestEvent, ResponseRequest
from tests.fixtures.api import NEW, REQUESTS, body, client_with_token, file, url

# Filed twice on one host: a task that changes no isolation (two isolations of one host in flight are
# refused, responses/isolation.py), so that the second filing acts like the first.
FETCH = body(task="getFile", params={"md5hash": "D41D8CD98F00B204E9800998ECF8427E"})


def keyed(client, path: str, data, key: str, **extra):
    return client.post(path, data, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)


def counts() -> tuple[int, int, int]:
    return ResponseRequest.objects.count(), RequestEvent.objects.count(), Decision.objects.count()


class TestReplay:
    def test_a_retried_filing_returns_the_first_answer_and_files_once(self, api, alice):
        client = api(alice)
        key = str(uuid.uuid4())
        first = keyed(client, REQUESTS, NEW, key)
        assert first.status_code == 201
        after_first = counts()
        again = keyed(client, REQUESTS, NEW, key)
        assert again.status_code == 201
        assert again.json() == first.json()  # the same request id, the same state as answered then
        assert again["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first
        assert counts() == after_first == (1, 1, 0)

    def test_the_same_json_in_another_key_order_is_the_same_request(self, api, alice):
        client = api(alice)
        keyed(client, REQUESTS, NEW, "alert-42")
        reordered = dict(reversed(list(NEW.items())))
        assert keyed(client, REQUESTS, reordered, "alert-42")["Idempotent-Replayed"] == "true"
        assert ResponseRequest.objects.count() == 1

    def test_without_a_key_each_call_acts(self, api, alice):
        client = api(alice)
        client.post(REQUESTS, FETCH, format="json")
        client.post(REQUESTS, FETCH, format="json")
        assert ResponseRequest.objects.count() == 2

    def test_a_retried_approval_returns_200_not_409(self, api, alice, bob):
        request = file(alice)
        client = api(bob)
        first = keyed(client, url(request, "approve"), {"comment": "ok"}, "approve-1")
        again = keyed(client, url(request, "approve"), {"comment": "ok"}, "approve-1")
        assert (first.status_code, again.status_code) == (200, 200)
        assert again.json() == first.json()
        assert Decision.objects.count() == 1
        # without the key, the same call is refused: the request is no longer pending
        assert client.post(url(request, "approve"), {"comment": "ok"}, format="json").status_code == 409

    def test_a_refusal_is_kept_too(self, api, alice):
        client = api(alice)
        first = keyed(client, REQUESTS, body(params={"action": 7}), "bad-1")
        assert first.status_code == 400
        again = keyed(client, REQUESTS, body(params={"action": 7}), "bad-1")
        assert (again.status_code, again.json()) == (400, first.json())
        assert counts() == (0, 0, 0)

    def test_keys_belong_to_their_user(self, api, alice, frank):
        keyed(api(alice), REQUESTS, FETCH, "shared-key")
        response = keyed(api(frank), REQUESTS, FETCH, "shared-key")
        assert response.status_code == 201 and "Idempotent-Replayed" not in response
        assert set(ResponseRequest.objects.values_list("requester_username", flat=True)) == {"alice", "frank"}

    def test_a_key_is_kept_24_hours(self, api, alice):
        client = api(alice)
        keyed(client, REQUESTS, FETCH, "old-key")
        IdempotencyKey.objects.update(created_at=timezone.now() - dt.timedelta(hours=24, seconds=1))
        response = keyed(client, REQUESTS, FETCH, "old-key")
        assert response.status_code == 201 and "Idempotent-Replayed" not in response
        assert ResponseRequest.objects.count() == 2
        assert IdempotencyKey.objects.count() == 1  # the expired one was purged

    def test_a_key_younger_than_24_hours_still_replays(self, api, alice):
        client = api(alice)
        keyed(client, REQUESTS, NEW, "day-old-key")
        IdempotencyKey.objects.update(created_at=timezone.now() - dt.timedelta(hours=23, minutes=59))
        assert keyed(client, REQUESTS, NEW, "day-old-key")["Idempotent-Replayed"] == "true"
        assert ResponseRequest.objects.count() == 1


class TestMisuse:
    def test_the_same_key_with_another_body_is_a_422(self, api, alice):
        client = api(alice)
        keyed(client, REQUESTS, NEW, "alert-42")
        response = keyed(client, REQUESTS, body(params={"action": 0}), "alert-42")
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
        assert "use a new key" in response.json()["detail"]
        assert counts() == (1, 1, 0)

    def test_the_same_key_on_another_request_is_a_422(self, api, alice, bob):
        first, second = file(alice), file(alice)
        client = api(bob)
        keyed(client, url(first, "approve"), {}, "approve-key")
        response = keyed(client, url(second, "approve"), {}, "approve-key")
        assert response.status_code == 422
        second.refresh_from_db()
        assert second.status == "pending_approval"
        assert Decision.objects.count() == 1

    @pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
    def test_a_bad_key_is_a_400_and_acts_not(self, api, alice, key):
        response = api(alice).post(REQUESTS, NEW, format="json", HTTP_IDEMPOTENCY_KEY=key.encode().decode("latin-1"))
        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["errors"]
        assert counts() == (0, 0, 0)

    def test_an_answer_quoting_a_nul_character_is_kept(self, api, alice):
        # PostgreSQL's jsonb refuses \u0000; the answer is kept as JSON text, which carries it.
        client = api(alice)
        first = keyed(client, REQUESTS, body(**{"a\x00": 1}), "nul-1")
        again = keyed(client, REQUESTS, body(**{"a\x00": 1}), "nul-1")
        assert (first.status_code, again.status_code) == (400, 400)
        assert again.json() == first.json() and "a\x00" in again.json()["errors"]
        assert again["Idempotent-Replayed"] == "true"

    def test_a_rate_limit_refusal_is_not_kept_so_the_retry_acts_once_it_lifts(self, settings, api, alice):
        settings.REQUEST_RATE_LIMIT = 1
        client = api(alice)
        keyed(client, REQUESTS, FETCH, "first-alert")
        assert keyed(client, REQUESTS, FETCH, "second-alert").status_code == 429
        settings.REQUEST_RATE_LIMIT = 0  # the window has passed
        response = keyed(client, REQUESTS, FETCH, "second-alert")
        assert response.status_code == 201 and "Idempotent-Replayed" not in response
        assert ResponseRequest.objects.count() == 2

    def test_a_server_error_keeps_nothing_so_the_retry_acts(self, api, alice, monkeypatch):
        client = api(alice)
        client.raise_request_exception = False

        def broken(*args, **kwargs):
            raise RuntimeError("the database went away")

        monkeypatch.setattr(workflow, "create_request", broken)  # the filing path's last step: the row
        assert keyed(client, REQUESTS, NEW, "retry-me").status_code == 500
        assert IdempotencyKey.objects.count() == 0
        monkeypatch.undo()
        response = keyed(client, REQUESTS, NEW, "retry-me")
        assert response.status_code == 201 and "Idempotent-Replayed" not in response
        assert ResponseRequest.objects.count() == 1


def test_concurrent_twins_act_once(postgres, transactional_db, alice, ksc_queue):
    """Eight copies of one call at once (a SIEM retrying impatiently): one request, eight equal answers.

    PostgreSQL makes every insert of the key wait for the first transaction; the
    losers then replay its answer. (SQLite serialises whole transactions instead.)
    """
    _, key = issue_token(alice)
    barrier = threading.Barrier(8)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def call() -> None:
        try:
            barrier.wait(timeout=10)
            response = keyed(client_with_token(key), REQUESTS, NEW, "same-alert")
            with lock:
                answers.append((response.status_code, response.json().get("id", response.json().get("detail"))))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 8
    assert ResponseRequest.objects.count() == 1
    filed = str(ResponseRequest.objects.get().uuid)
    assert answers == [(201, filed)] * 8
    assert RequestEvent.objects.count() == 1
