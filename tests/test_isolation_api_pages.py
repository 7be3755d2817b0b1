"""Isolate until through the REST API and the pages (issue 28, points 1, 3 and 5).

The API files with ``isolate_until``/``isolate_hours``/``until_released_reason`` and answers ``release_at``
and ``release_request``; bad ends are 400s naming the field, and file nothing. "Isolated now" lists
what the portal isolated, soonest end first, as a page, a CSV and an API list.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from accounts.models import TokenScope
from responses import isolation
from responses.models import EventKind, Isolation, ResponseRequest, Status
from tests.fixtures.api import REQUESTS, body, url
from tests.support.filing import file_request
from tests.support.isolation import isolated


@pytest.fixture
def stand(submission, settings):
    settings.KSC_SUBMIT_HOURLY_CAP = 0
    return submission


def new(simulator, **changes):
    return body(target_host=simulator.hosts()[0]["KLHST_WKS_HOSTNAME"], **changes)


class TestFilingThroughTheApi:
    def test_it_files_an_isolation_for_4_hours_and_answers_its_end(self, stand, api, alice, bob):
        response = api(alice).post(REQUESTS, new(stand, isolate_hours=4), format="json")
        assert response.status_code == 201, response.json()
        data = response.json()
        assert data["isolation_end"] == {"isolate_hours": 4}
        assert (data["release_at"], data["release_request"]) == (None, None), "nothing scheduled before approval"
        approved = api(bob).post(url(data["id"], "approve"), {"comment": "ok"}, format="json").json()
        release = ResponseRequest.objects.get(uuid=approved["release_request"])
        assert release.status == Status.SCHEDULED
        assert api(alice).get(url(release)).json()["status"] == "scheduled"

    def test_it_files_until_a_time_with_its_offset(self, stand, api, alice):
        until = (timezone.now() + dt.timedelta(hours=5)).astimezone(dt.timezone(dt.timedelta(hours=9)))
        text = until.replace(microsecond=0).isoformat()
        data = api(alice).post(REQUESTS, new(stand, isolate_until=text, time_zone="Asia/Tokyo"), format="json").json()
        assert data["isolation_end"]["isolate_until"] == until.astimezone(dt.UTC).replace(microsecond=0).isoformat()
        assert data["isolation_end"]["time_zone"] == "Asia/Tokyo"

    def test_it_files_until_released_with_a_reason(self, stand, api, alice):
        data = api(alice).post(
            REQUESTS, new(stand, isolate_until=None, until_released_reason="Disk imaging by forensics"), format="json"
        ).json()
        assert data["isolation_end"] == {"isolate_until": None, "until_released_reason": "Disk imaging by forensics"}

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"isolate_hours": 100}, "isolate_hours"),
            ({"isolate_hours": 0}, "isolate_hours"),
            ({"isolate_hours": "lots"}, "isolate_hours"),
            ({"isolate_until": "2030-01-01T09:00:00"}, "isolate_until"),
            ({"isolate_until": None}, "until_released_reason"),
            ({"isolate_until": 12}, "isolate_until"),
            ({"time_zone": "Nowhere/Else", "isolate_hours": 4}, "time_zone"),
        ],
    )
    def test_a_bad_end_is_a_400_naming_the_field_and_files_nothing(self, stand, api, alice, changes, field):
        response = api(alice).post(REQUESTS, new(stand, **changes), format="json")
        assert response.status_code == 400
        assert field in response.json()["errors"], response.json()
        assert not ResponseRequest.objects.exists()

    def test_a_second_isolation_of_a_host_is_a_400_with_the_first_ones_id(self, stand, api, alice, frank):
        first = api(alice).post(REQUESTS, new(stand), format="json").json()
        response = api(frank).post(REQUESTS, new(stand, isolate_hours=24), format="json")
        assert response.status_code == 400
        assert response.json()["errors"]["in_flight"] == [first["id"]]


class TestActionsThroughTheApi:
    def test_release_now_hold_and_an_extension(self, stand, api, alice, bob, carol):
        row = isolated(alice, bob, stand, isolate_hours=4)
        isolation.run_due_releases()
        key = str(row.request.uuid)
        schedule = api(alice).get(f"{REQUESTS}{key}/isolation/").json()
        assert schedule["state"] == "active" and set(schedule["actions"]) == {"extend", "release_now"}

        extended = api(alice).post(f"{REQUESTS}{key}/extend/", {"isolate_hours": 2, "justification": "more"}, format="json")
        assert extended.status_code == 201, extended.json()
        refused = api(alice).post(f"/api/v1/extensions/{extended.json()['extension']}/approve/", {}, format="json")
        assert refused.status_code == 403, "nobody approves their own extension"
        approved = api(carol).post(f"/api/v1/extensions/{extended.json()['extension']}/approve/", {}, format="json")
        assert approved.json()["status"] == "approved"
        assert approved.json()["release_at"] == (schedule_end := dt.datetime.fromisoformat(schedule["release_at"]) + dt.timedelta(hours=2)).isoformat()
        assert schedule_end

        file_only = api(carol, scope=TokenScope.FILE).post(f"{REQUESTS}{key}/hold/", {"reason": "forensics"}, format="json")
        assert file_only.status_code == 403, "a hold is a decision: a decisions token only"
        assert api(carol).post(f"{REQUESTS}{key}/hold/", {}, format="json").status_code == 400
        held = api(carol).post(f"{REQUESTS}{key}/hold/", {"reason": "forensics"}, format="json").json()
        assert held["ends_by"] == "until_released" and held["held_by"] == "carol"

        released = api(alice).post(f"{REQUESTS}{key}/release-now/", {"comment": "done"}, format="json")
        assert released.status_code == 200 and released.json()["state"] == "releasing"
        assert api(alice).post(f"{REQUESTS}{key}/release-now/", {}, format="json").status_code == 409

    def test_an_outsider_gets_404s(self, stand, api, alice, bob, frank):
        row = isolated(alice, bob, stand, isolate_hours=4)
        assert api(frank).get(f"{REQUESTS}{row.request.uuid}/isolation/").status_code == 404
        assert api(frank).post(f"{REQUESTS}{row.request.uuid}/release-now/", {}, format="json").status_code == 404


class TestIsolatedNow:
    def test_the_page_the_csv_and_the_api_list_sort_by_time_left(self, stand, api, client, login, alice, bob, carol):
        later = isolated(alice, bob, stand, isolate_hours=24)
        sooner_target = stand.hosts()[1]["KLHST_WKS_HOSTNAME"]
        from responses import filing, workflow

        sooner = filing.file_request(
            user=alice, task="isolateHost", target_host=sooner_target, params={"action": 1},
            justification="second host", source="api", end={"isolate_hours": 1},
        ).request  # fmt: skip
        workflow.approve(sooner, user=bob)
        from tests.support.isolation import submit

        submit(sooner)
        isolation.run_due_releases()
        isolation.hold(Isolation.objects.get(request=later.request), user=carol, reason="forensics")

        listed = api(bob).get("/api/v1/isolated/").json()["results"]
        assert [item["isolation_request"] for item in listed] == [str(sooner.uuid), str(later.request.uuid)]
        assert listed[1]["ends_by"] == "until_released" and listed[1]["held_by"] == "carol"

        login(client, alice)
        page = client.get("/isolated/").content.decode()
        assert page.index(sooner.target_host_name) < page.index(later.request.target_host_name)
        assert "held by carol" in page
        rows = list(csv.DictReader(io.StringIO(client.get("/isolated/export.csv").content.decode())))
        assert [row["request"] for row in rows] == [str(sooner.uuid), str(later.request.uuid)]
        assert rows[1]["held"] == "yes"

    def test_the_request_page_shows_the_end_and_offers_the_actions(self, stand, client, login, alice, bob):
        row = isolated(alice, bob, stand, isolate_hours=4)
        isolation.run_due_releases()
        login(client, alice)
        page = client.get(f"/requests/{row.request.uuid}/").content.decode()
        assert "for 4 hours after it takes effect" in page and 'id="release-now"' in page and 'id="extend"' in page
        assert 'id="hold"' not in page, "alice is no approver"
        response = client.post(f"/requests/{row.request.uuid}/release-now/", {"comment": "clean"})
        assert response.status_code == 302
        assert row.release.events.filter(kind=EventKind.APPROVED, actor_username="alice").exists()

    def test_an_ioc_scan_that_isolates_says_kes_may_end_it(self, stand, client, login, alice):
        from tests.support.openioc import ioc_zip_b64

        rr = file_request(
            user=alice, task="iocScan", target_host=stand.hosts()[0]["KLHST_WKS_HOSTNAME"],
            params={"ioc": ioc_zip_b64(), "isolateHost": True, "scanCriticalAreas": False, "quarantineObject": False},
            justification="IOC sweep",
        )  # fmt: skip
        login(client, alice)
        assert "5 hours by default on KES for Linux" in client.get(f"/requests/{rr.uuid}/").content.decode()
