"""The API files through the web form's path (responses/filing.py): the host checked with KSC.

Against the simulated KSC over real HTTPS: an id KSC does not know is refused at
filing (400 naming target_host, nothing filed), the request keeps KSC's display
name (approvers read names, not bare ids), and when KSC cannot be asked the
request is filed with the host unchecked and its page says so to approvers.
"""

from __future__ import annotations

from django.urls import reverse

from responses.models import EventKind, ResponseRequest, Source
from tests.fixtures.accounts import sign_in
from tests.fixtures.api import REQUESTS, body


def test_the_api_refuses_a_host_id_that_ksc_does_not_know_and_files_nothing(api, alice, ksc_settings):
    response = api(alice).post(REQUESTS, body(target_host="no-such-host-id"), format="json")

    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert list(errors) == ["target_host"]
    assert "KSC knows no host with this id" in errors["target_host"][0]
    assert not ResponseRequest.objects.exists()


def test_the_api_keeps_ksc_display_name_for_the_host(api, alice, ksc_settings):
    host_id = ksc_settings.host_id("SRV-SQL-01")

    response = api(alice).post(REQUESTS, body(target_host=host_id), format="json")

    assert response.status_code == 201, response.content
    filed = ResponseRequest.objects.get()
    assert (filed.target_host, filed.target_host_name, filed.source) == (host_id, "SRV-SQL-01", Source.API)
    assert response.json()["target_host_name"] == "SRV-SQL-01"
    assert "host_unchecked" not in filed.events.get(kind=EventKind.FILED).detail


def test_the_api_refuses_a_host_name_sent_by_the_caller(api, alice, ksc_settings):
    """Only KSC names the host: a SIEM cannot show approvers a harmless name of its own."""
    host_id = ksc_settings.host_id("SRV-SQL-01")

    response = api(alice).post(REQUESTS, body(target_host=host_id, target_host_name="harmless-vm"), format="json")

    assert response.status_code == 400
    assert "target_host_name" in response.json()["errors"]
    assert not ResponseRequest.objects.exists()


def test_with_ksc_unreachable_the_api_files_the_host_unchecked_and_approvers_are_told(
    api, alice, bob, client, login, ksc_settings
):
    host_id = ksc_settings.host_id("SRV-SQL-01")
    ksc_settings.simulator.stop()  # KSC is down: connection refused

    response = api(alice).post(REQUESTS, body(target_host=host_id), format="json")

    assert response.status_code == 201, response.content
    filed = ResponseRequest.objects.get()
    assert filed.target_host_name == ""  # nobody's name: KSC could not give its own
    why = filed.events.get(kind=EventKind.FILED).detail["host_unchecked"]
    assert why
    login(client, bob)
    page = client.get(reverse("responses:detail", kwargs={"key": filed.uuid})).content.decode()
    assert 'id="host-unchecked"' in page
    assert "the id is unchecked" in page


def test_with_ksc_answering_the_approval_page_has_no_unchecked_notice(api, alice, bob, client, login, ksc_settings):
    response = api(alice).post(REQUESTS, body(target_host=ksc_settings.host_id("SRV-SQL-01")), format="json")
    assert response.status_code == 201

    login(client, bob)
    page = client.get(reverse("responses:detail", kwargs={"key": response.json()["id"]})).content.decode()
    assert 'id="host-unchecked"' not in page
    assert "SRV-SQL-01" in page


def web_preview(client, alice, host_id: str):
    """The web form's preview of an isolation of ``host_id``, as alice."""
    sign_in(client, alice)
    data = {
        "task": "isolateHost",
        "target_host": host_id,
        "params-action": "1",
        "justification": "Beacon from this host (ALERT-7).",
        "step": "preview",
    }
    return client.post(reverse("responses:new"), data)


def test_with_ksc_faulted_at_filing_the_web_form_files_the_host_unchecked(client, alice, ksc_settings):
    """The web form asks KSC again at filing, through the same path as the API."""
    host_id = ksc_settings.host_id("SRV-SQL-01")
    preview = web_preview(client, alice, host_id)
    assert preview.status_code == 200 and preview.context["filing"].target_host_name == "SRV-SQL-01"
    ksc_settings.set_faults({"fail_next": 50, "status": 503})

    client.post(reverse("responses:new"), {"step": "file", "sealed": preview.context["sealed"]})

    filed = ResponseRequest.objects.get()
    assert filed.target_host_name == ""
    assert filed.events.get(kind=EventKind.FILED).detail["host_unchecked"]


def test_the_web_form_refuses_at_filing_a_host_ksc_no_longer_knows(client, alice, ksc_settings):
    """Between preview and filing the host left KSC: filing refuses it, as the API does."""
    host_id = ksc_settings.host_id("SRV-SQL-01")
    preview = web_preview(client, alice, host_id)
    assert preview.status_code == 200
    with ksc_settings.simulator.state.lock:
        del ksc_settings.simulator.state.hosts[host_id]  # an administrator removed it from KSC

    response = client.post(reverse("responses:new"), {"step": "file", "sealed": preview.context["sealed"]})

    assert response.status_code == 400
    assert "KSC knows no host with this id" in response.content.decode()
    assert not ResponseRequest.objects.exists()
