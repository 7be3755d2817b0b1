"""The auditors' exports and account changes (issue 30, point 5).

The requests' CSV carries the outcome (state, label, since, KSC task id) and the campaign; the JSON-lines
export is limited by dates and by one request, from a form on the audit chain's page; the account
changes show ISO dates, readable details and the actor in the reader's language; the date filters
take what their help says, and a bad one is refused clearly and narrows nothing into a wider list.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.utils import timezone

from accounts.models import AccountEvent
from audit import dates
from campaigns import filing as campaign_filing
from responses.models import OutcomeState, ResponseOutcome, ResponseRequest, Status
from tests.support.pages import file, page, read_csv, set_status

JSONL = "/audit/export.jsonl"
ACCOUNTS = "/audit/accounts/"


def lines_of(response) -> list[dict]:
    assert response.status_code == 200, response.content[:300]
    return [json.loads(text) for text in b"".join(response.streaming_content).decode().splitlines()]


class TestRequestsCsv:
    def test_it_carries_the_outcome_and_the_campaign(self, client, login, alice, dave, ksc_settings):
        done = set_status(file(alice, target_host="h-1"), Status.SUBMITTED, ksc_incident_id=7, submitted_at=timezone.now())
        since = timezone.now() - dt.timedelta(minutes=3)
        ResponseOutcome.objects.create(request=done, state=OutcomeState.COMPLETED, since=since, ksc_task_id="1001")
        waiting = file(alice, target_host="h-2")
        campaign = campaign_filing.file_campaign(
            alice, task="isolateHost", params={"action": 1}, hosts="TKY-WS-0110\nTKY-WS-0111", justification="INC-7"
        )
        login(client, dave)
        rows = {row["uuid"]: row for row in read_csv(client.get("/requests/export.csv"))}
        row = rows[str(done.uuid)]
        assert (row["outcome_state"], row["outcome_label"], row["ksc_task_id"]) == ("completed", "Completed", "1001")
        assert dt.datetime.fromisoformat(row["outcome_since"]) == since
        assert row["campaign"] == ""
        pending = rows[str(waiting.uuid)]
        assert pending["outcome_state"] == pending["outcome_label"] == pending["ksc_task_id"] == ""
        children = ResponseRequest.objects.filter(campaign_host__campaign=campaign)
        for child in children:
            assert rows[str(child.uuid)]["campaign"] == str(campaign.uuid)

    def test_the_outcome_label_is_in_the_readers_language(self, client, login, alice, dave):
        done = set_status(file(alice, target_host="h-1"), Status.SUBMITTED, ksc_incident_id=7, submitted_at=timezone.now())
        ResponseOutcome.objects.create(request=done, state=OutcomeState.FAILED, ksc_task_id="1002")
        login(client, dave)
        client.cookies["django_language"] = "ja"
        (row,) = read_csv(client.get("/requests/export.csv"))
        assert row["outcome_state"] == "failed" and row["outcome_label"] not in ("", "Failed")


class TestJsonLines:
    def test_since_and_until_take_dates_and_date_times(self, client, login, alice, dave):
        old = file(alice, target_host="h-old")
        cut = timezone.localtime(old.events.order_by("-created_at").first().created_at) + dt.timedelta(microseconds=1)
        new = file(alice, target_host="h-new")
        today, yesterday = cut.date(), cut.date() - dt.timedelta(days=1)
        login(client, dave)

        def chains(query):
            return {line["chain"] for line in lines_of(client.get(JSONL, query)) if line["record"] == "event"}

        both = {str(old.uuid), str(new.uuid)}
        assert chains({"since": today.isoformat(), "until": today.isoformat()}) == both, "a date as until: the whole day"
        assert chains({"until": yesterday.isoformat()}) == set()
        assert chains({"until": cut.isoformat()}) == {str(old.uuid)}
        assert chains({"since": cut.isoformat()}) == {str(new.uuid)}
        naive = cut.replace(tzinfo=None).isoformat()  # in the portal's time zone, as the help says
        assert chains({"since": naive}) == {str(new.uuid)}

    def test_one_requests_events_only(self, client, login, alice, bob, dave):
        first = file(alice, target_host="h-1")
        file(alice, target_host="h-2")
        login(client, dave)
        lines = lines_of(client.get(JSONL, {"request": str(first.uuid)}))
        assert lines and {line["chain"] for line in lines} == {str(first.uuid)}
        assert {line["record"] for line in lines} == {"event"}, "no account events or anchors in one request's export"
        assert len(lines) == first.events.count()

    @pytest.mark.parametrize(
        ("query", "words"),
        [
            ({"since": "yesterday"}, "since: “yesterday” must be a date such as 2026-11-27"),
            ({"until": "2026-02-30"}, "until: “2026-02-30” must be a date"),
            ({"since": "2026-11-27T25:00"}, "must be a date"),
            ({"request": "not-a-uuid"}, "request: “not-a-uuid” is not a request's id"),
            ({"since": "2026-11-28", "until": "2026-11-27"}, "since must be before until"),
        ],
    )
    def test_bad_values_are_refused_clearly(self, client, login, alice, dave, query, words):
        file(alice, target_host="h-1")
        login(client, dave)
        response = client.get(JSONL, query)
        assert response.status_code == 400 and words in response.content.decode()

    def test_the_audit_chain_page_has_the_form_with_its_help(self, client, login, dave):
        login(client, dave)
        html = page(client.get("/audit/chain/"))
        form = re.search(r'<form method="get" action="/audit/export.jsonl".*?</form>', html, re.S).group(0)
        for name in ("since", "until", "request"):
            assert f'name="{name}"' in form
        assert "2026-11-27T08:00" in form


class TestAccountChanges:
    def test_iso_dates_readable_details_and_the_actor_in_words(self, client, login, alice, dave):
        alice.is_superuser = True
        alice.save()  # no logged-in user: "system" acted
        event = AccountEvent.objects.filter(subject_username="alice").order_by("-seq").first()
        login(client, dave)
        html = page(client.get(ACCOUNTS, {"user": "alice"}))
        stamp = timezone.localtime(event.created_at).strftime("%Y-%m-%d %H:%M:%S")
        assert stamp in html
        assert "superuser: No → Yes" in html.replace("&#x27;", "'")
        assert "{&#x27;" not in html and "{'" not in html, "no raw JSON"
        client.cookies["django_language"] = "ja"
        html = page(client.get(ACCOUNTS, {"user": "alice"}))
        assert "システム" in html and "スーパーユーザー：いいえ → はい" in html

    def test_date_filters_take_what_their_help_says(self, client, login, alice, dave):
        alice.is_staff = True
        alice.save()
        at = timezone.localtime(AccountEvent.objects.filter(subject_username="alice").latest("seq").created_at)
        today, tomorrow = at.date(), at.date() + dt.timedelta(days=1)
        login(client, dave)
        assert dates.help_text() in page(client.get(ACCOUNTS))
        minute = at.replace(second=0, microsecond=0, tzinfo=None)
        for query, shown in (
            ({"since": today.isoformat(), "until": today.isoformat()}, True),
            ({"since": minute.strftime("%Y-%m-%dT%H:%M")}, True),
            ({"until": minute.strftime("%Y-%m-%dT%H:%M")}, False),
            ({"since": tomorrow.isoformat()}, False),
        ):
            response = client.get(ACCOUNTS, {"user": "alice", **query})
            assert response.status_code == 200
            assert ("staff (the admin): No → Yes" in page(response)) is shown, query

    def test_a_bad_date_is_said_beside_its_field_and_lists_nothing(self, client, login, alice, dave):
        alice.is_staff = True
        alice.save()
        login(client, dave)
        response = client.get(ACCOUNTS, {"since": "27/11/2026"})
        html = page(response)
        assert response.status_code == 400
        assert 'id="id_since-error"' in html and "must be a date such as 2026-11-27" in html
        assert 'aria-invalid="true"' in html and 'value="27/11/2026"' in html
        assert "staff (the admin)" not in html and "Nothing is listed while a date is wrong" in html


class TestTheCommand:
    def test_export_audit_takes_until_and_request_and_refuses_bad_values(self, alice, tmp_path):
        from django.core.management import CommandError, call_command

        first = file(alice, target_host="h-1")
        file(alice, target_host="h-2")
        out = tmp_path / "one.jsonl"
        call_command("export_audit", "--request", str(first.uuid), "--output", str(out))
        lines = [json.loads(text) for text in out.read_text(encoding="utf-8").splitlines()]
        assert lines and {line["chain"] for line in lines} == {str(first.uuid)}
        yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
        call_command("export_audit", "--until", yesterday, "--output", str(out))
        assert out.read_text(encoding="utf-8") == ""
        for bad in (["--until", "soon"], ["--request", "h-1"]):
            with pytest.raises(CommandError) as refused:
                call_command("export_audit", *bad, "--output", str(tmp_path / "bad.jsonl"))
            assert "must be" in str(refused.value)
