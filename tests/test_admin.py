"""The admin: superusers see requests and their trail but change and delete nothing."""

from __future__ import annotations

import pytest

from responses.models import RequestEvent, ResponseRequest
from tests.support.filing import file_request


@pytest.fixture
def filed(alice):
    return file_request(
        user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="why"
    )


def test_superusers_read_requests_and_events(client, login, root, filed):
    login(client, root)
    assert client.get("/admin/responses/responserequest/").status_code == 200
    assert client.get(f"/admin/responses/responserequest/{filed.pk}/change/").status_code == 200
    assert client.get("/admin/responses/requestevent/").status_code == 200


@pytest.mark.parametrize("model", ["responserequest", "requestevent", "submissionattempt", "approval"])
def test_nobody_adds_changes_or_deletes_through_the_admin(client, login, root, filed, model):
    login(client, root)
    event = RequestEvent.objects.first()
    pk = filed.pk if model == "responserequest" else event.pk
    assert client.get(f"/admin/responses/{model}/add/").status_code in (403, 404)
    assert client.post(f"/admin/responses/{model}/{pk}/delete/", {"post": "yes"}).status_code in (403, 404)
    assert client.post(
        "/admin/responses/requestevent/", {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    ).status_code in (200, 302, 403)
    assert ResponseRequest.objects.count() == 1
    assert RequestEvent.objects.filter(pk=event.pk).exists()


def test_the_audit_log_admin_is_read_only(client, login, root, filed):
    from auditlog.models import LogEntry

    login(client, root)
    entry = LogEntry.objects.first()
    assert client.post(f"/admin/auditlog/logentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LogEntry.objects.filter(pk=entry.pk).exists()
