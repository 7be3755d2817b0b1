"""The approval card (issue 30, point 1): every safety fact of the request page, risk levels, the
confirmation a high-risk approval needs (checked by the server), no N+1 queries on the queue.

Against the KSC simulator over HTTPS: its inventory has DC01 in "Domain Controllers" and TKY-WS-0105
in "Tokyo Office", last seen hours ago.
"""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from responses import review
from responses.models import ResponseRequest, Status
from tests.support.filing import file_request
from tests.support.openioc import ioc_zip_b64, openioc
from tests.support.pages import page


def _file(user, ksc, name, task="deleteFile", params=None, **extra):
    return file_request(
        user=user,
        task=task,
        target_host=ksc.host_id(name),
        target_host_name=name,
        params={"path": r"C:\Windows\Temp\dropper.dll"} if params is None else params,
        justification="Dropper found by the SIEM",
        **extra,
    )


def _card(html: str, rr: ResponseRequest) -> str:
    start = html.index(f'id="q-{rr.uuid}"')
    end = html.find('<article class="queue-entry', start)
    return html[start : end if end != -1 else len(html)]


def test_the_card_shows_the_hosts_facts_expiry_risk_and_who_claimed_it(client, login, alice, bob, ksc_settings, settings):
    settings.HOST_STALE_AFTER = 60
    rr = _file(alice, ksc_settings, "TKY-WS-0105")
    review.claim(rr, user=bob, via="portal")
    login(client, bob)

    card = _card(page(client.get("/approvals/")), rr)

    assert "Tokyo Office" in card and "Windows" in card  # group and OS, from KSC
    assert "KSC has not seen this host since" in card  # stale
    assert 'data-risk="medium"' in card and "Medium risk" in card and "deletes a file" in card
    assert "Expires" in card and "in 23\xa0hours" in card
    assert "bob, at" in card  # who claimed it
    assert "nobody yet" in card  # nobody was told (notifications are off here)
    assert '<button type="submit" class="primary">Approve</button>' in card


def test_a_critical_group_makes_a_change_high_risk_and_approving_needs_the_confirmation(
    client, login, alice, bob, ksc_settings, settings
):
    settings.CRITICAL_GROUPS = ["Domain Controllers"]
    rr = _file(alice, ksc_settings, "DC01")
    login(client, bob)

    card = _card(page(client.get("/approvals/")), rr)
    assert 'data-risk="high"' in card and "High risk" in card and "critical group" in card
    assert 'name="confirm_high_risk" value="1"' in card and "required" in card

    # Without the confirmation (an old page, a hand-made POST): refused, nothing recorded.
    response = client.post(f"/requests/{rr.uuid}/approve/", {"comment": "", "next": "/approvals/"}, follow=True)
    assert "is high risk" in page(response) and "Nothing was approved" in page(response)
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL and not rr.approvals.exists()
    # The request page says the same, next to its Approve form.
    response = client.post(f"/requests/{rr.uuid}/approve/", {"comment": "ok"})
    assert response.status_code == 400 and "is high risk" in page(response)
    assert not ResponseRequest.objects.get(pk=rr.pk).approvals.exists()

    # Confirmed: approved.
    client.post(f"/requests/{rr.uuid}/approve/", {"comment": "", "confirm_high_risk": "1"})
    rr.refresh_from_db()
    assert rr.status != Status.PENDING_APPROVAL and rr.approvals.count() == 1


def test_a_medium_risk_approval_needs_no_confirmation(client, login, alice, bob, ksc_settings, settings):
    settings.CRITICAL_GROUPS = ["Domain Controllers"]
    rr = _file(alice, ksc_settings, "TKY-WS-0105")
    login(client, bob)
    client.post(f"/requests/{rr.uuid}/approve/", {"comment": ""})
    assert ResponseRequest.objects.get(pk=rr.pk).approvals.count() == 1


def test_an_unchecked_host_gets_no_one_click_approve_but_a_link_to_the_request_page(
    client, login, alice, bob, ksc_settings
):
    rr = _file(alice, ksc_settings, "TKY-WS-0105", host_unchecked="KSC did not answer within 5 s")
    login(client, bob)

    card = _card(page(client.get("/approvals/")), rr)

    assert "KSC did not answer within 5 s" in card and "the id is unchecked" in card
    assert '>Approve</button>' not in card
    assert f'href="/requests/{rr.uuid}/#h-actions"' in card
    assert ">Reject</button>" in card  # rejecting stays one click


def test_the_card_describes_the_ioc_archive_file_by_file(client, login, alice, bob, ksc_settings):
    archive = ioc_zip_b64({"emotet.ioc": openioc(description="Emotet dropper")})
    rr = _file(
        alice, ksc_settings, "TKY-WS-0105", task="iocScan",
        params={"ioc": archive, "isolateHost": True, "scanCriticalAreas": False, "quarantineObject": False},
        archive_names={"ioc": "campaign-42.zip"},
    )  # fmt: skip
    login(client, bob)

    card = _card(page(client.get("/approvals/")), rr)

    assert "campaign-42.zip" in card and "SHA-256 " in card
    assert "emotet.ioc" in card and "Emotet dropper" in card and "1 indicator (FileItem 1)" in card


def test_the_queue_costs_the_same_queries_and_one_ksc_look_up_whatever_its_size(
    client, login, alice, frank, bob, ksc_settings
):
    from django.core.cache import cache

    login(client, bob)
    _file(alice, ksc_settings, "TKY-WS-0105")
    client.get("/approvals/")  # the session's and the first page's one-off queries
    cache.clear()  # the host's facts asked of KSC (and recorded in the host directory) each time
    with CaptureQueriesContext(connection) as one:
        client.get("/approvals/")
    for index, name in enumerate(["DC01", "DC02", "TKY-WS-0105", "DC01"]):
        rr = _file(frank if index % 2 else alice, ksc_settings, name, params={"path": rf"C:\x{index}.dll"})
        review.claim(rr, user=bob, via="portal")
    cache.clear()
    calls_before = ksc_settings.stats()["calls"].get("HostGroup.FindHosts", 0)
    with CaptureQueriesContext(connection) as five:
        response = client.get("/approvals/")
    assert len(response.context["entries"]) == 5
    assert len(five) == len(one), [query["sql"] for query in five.captured_queries]
    assert ksc_settings.stats()["calls"]["HostGroup.FindHosts"] - calls_before == 1


def test_the_request_page_shows_the_risk_and_the_approve_link_page_asks_for_the_confirmation(
    client, login, alice, bob, ksc_settings, settings
):
    settings.CRITICAL_GROUPS = ["Domain Controllers"]
    rr = _file(alice, ksc_settings, "DC01")
    login(client, bob)

    detail = page(client.get(f"/requests/{rr.uuid}/"))
    assert '<dd id="risk">' in detail and "High risk" in detail
    assert f'id="confirm-high-risk-{rr.uuid}"' in detail
    link = page(client.get(f"/requests/{rr.uuid}/approve/confirm/"))
    assert "High risk" in link and 'name="confirm_high_risk"' in link


def test_the_card_says_who_was_told_each_once(client, login, alice, bob, ksc_settings):
    from notifications.models import Channel, Notification, NotificationKind

    rr = _file(alice, ksc_settings, "TKY-WS-0105")
    for kind, channel, label in (
        (NotificationKind.APPROVAL_NEEDED, Channel.EMAIL, "carol"),
        (NotificationKind.APPROVAL_NEEDED, Channel.CHAT, "Slack"),
        (NotificationKind.REMINDER, Channel.EMAIL, "carol"),  # a reminder to carol: still carol, once
    ):
        Notification.objects.create(
            request=rr, kind=kind, channel=channel, destination=f"user:{label}", label=label, language="en"
        )
    login(client, bob)

    card = _card(page(client.get("/approvals/")), rr)

    assert '<dd class="card-told">carol, Slack</dd>' in card
