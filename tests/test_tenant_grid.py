"""The tenant grid (issue 26, point 5): a tenant's people never read another tenant's anything.

Two tenants, acme and globex, each on its own KSC server (tests/fixtures/tenants.py). Every
URL pattern of the portal is walked (new pages are covered without editing this file, as in
tests/test_security_two_factor_gate.py), GET and POST, by acme's analyst, approver and auditor,
through the web session and through an API token, with every route argument filled with
globex's objects (its request, its host, its server). Then:

- no answer, of any status, carries anything of globex's (its marker, its requests' ids);
- every route keyed by a globex object answers 404, never 403: its existence is not confirmed;
- nothing changed on globex's requests, and nobody of acme would be told about them.

And the control that proves the walk could fail: globex's own approver reads the same pages.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import resolve
from rest_framework.test import APIClient

from accounts import twofactor
from accounts.tokens import issue_token
from notifications import routing
from responses.models import ResponseRequest
from responses.states import TokenScope
from tests.fixtures.accounts import enrol_totp, sign_in
from tests.support.gate import concrete, walk

PERSONAS = ("analyst", "approver", "auditor")
# Would end the walk's session, or its second factor (the rest of the walk would then read the login pages).
LEAVING = {"/accounts/logout/", "/account/two-factor/remove/"}


def paths_for(tenant, device_pk: int) -> list[str]:
    """Every URL of the portal with its arguments taken from ``tenant``'s objects."""
    samples = {
        "key": str(tenant.pending.uuid),
        "id": str(tenant.pending.uuid),
        "object_id": str(tenant.pending.pk),
        "host_id": tenant.pending.target_host,
        "server": tenant.server,
        "pk": str(device_pk),
        "content_type_id": "1",
        "app_label": "otp_totp",
        "url": "no-such-page/",
    }
    paths = set()
    for route in walk():
        path = concrete(route, samples)
        resolve(urlsplit(path).path)
        paths.add(path)
    # The lists and searches, filtered by the other tenant's words and server too.
    for list_path in ("/requests/", "/requests/export.csv", "/api/v1/requests/", "/hosts/"):
        paths.add(f"{list_path}?q={tenant.marker}")
        paths.add(f"{list_path}?server={tenant.server}")
        paths.add(f"{list_path}?host={tenant.marker}")
    for decided in (tenant.submitted,):
        paths.add(f"/requests/{decided.uuid}/")
        paths.add(f"/api/v1/requests/{decided.uuid}/")
    return sorted(paths)


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def keyed_by(path: str, tenant) -> bool:
    return any(str(value) in path for value in (*[rr.uuid for rr in tenant.requests], tenant.pending.target_host))


def secrets_of(tenant, path: str) -> list[str]:
    """What of a tenant must never appear in another tenant's answers to ``path``.

    An id the caller sent in the path may come back (a 404 page quotes the path it could not
    find): that tells them nothing. Everything else of the tenant's must not.
    """
    words = []
    for rr in tenant.requests:
        words += [rr.justification, rr.target_host_name, rr.external_ref]
        words += [value for value in (str(rr.uuid), rr.target_host) if value not in path]
    return words


def walk_as(client, tenant_seen, device_pk: int, *, api: bool) -> list[tuple[str, str, int, str, str]]:
    """(method, path, status, body, Location) of every URL (only the API's with ``api``, only the pages without)."""
    answers = []
    for path in paths_for(tenant_seen, device_pk):
        if twofactor.ignores_the_session(urlsplit(path).path) != api or urlsplit(path).path in LEAVING:
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            location = response.get("Location", "")
            answers.append((method.upper(), path, response.status_code, body_of(response), location))
    return answers


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("through", ["pages", "api"])
def test_a_tenant_reads_nothing_of_another_anywhere(two_tenants, persona, through):
    acme, globex = two_tenants["acme"], two_tenants["globex"]
    user = getattr(acme, persona)
    device = enrol_totp(globex.approver)  # a device of globex's: its admin pages are keyed by it
    before = {rr.pk: (rr.status, rr.approvals.count()) for rr in ResponseRequest.objects.filter(server="globex")}
    if through == "api":
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user, scope=TokenScope.DECISIONS)[1]}")
    else:
        client = sign_in(Client(), user)

    leaked, confirmed = [], []
    for method, path, status, text, location in walk_as(client, globex, device.pk, api=through == "api"):
        found = [word for word in secrets_of(globex, path) if word in text]
        if found:
            leaked.append(f"{method} {path} -> {status}: shows {found[:3]}")
        # The admin turns away non-staff before reading anything; /hosts/<id>/ (old links) leads to
        # the same id on the caller's own server, which confirms nothing of globex's.
        turned_away = status == 302 and ("/admin/" in path or location.startswith(f"/hosts/{acme.server}/"))
        if keyed_by(path, globex) and status not in (404, 405) and not turned_away:
            confirmed.append(f"{method} {path} -> {status}")

    assert leaked == [], f"acme's {persona} read globex's:\n" + "\n".join(leaked)
    assert confirmed == [], f"acme's {persona} was not answered 404 for globex's objects:\n" + "\n".join(confirmed)
    after = {rr.pk: (rr.status, rr.approvals.count()) for rr in ResponseRequest.objects.filter(server="globex")}
    assert after == before  # nothing of globex's was decided, cancelled or retried on the way


def test_the_control_globex_reads_its_own(two_tenants):
    """The walk can fail: globex's approver is shown globex's request on its page, the queue and the API."""
    globex = two_tenants["globex"]
    client = sign_in(Client(), globex.approver)
    for path in (f"/requests/{globex.pending.uuid}/", "/approvals/", "/requests/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert globex.pending.target_host_name in body_of(response), path
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(globex.approver)[1]}")
    listed = api.get("/api/v1/requests/").json()["results"]
    assert {row["id"] for row in listed} == {str(rr.uuid) for rr in globex.requests}
    assert {row["server"] for row in listed} == {"globex"}


def test_nobody_of_another_tenant_is_told_about_a_request(two_tenants):
    acme, globex = two_tenants["acme"], two_tenants["globex"]
    told = {user.username for user in routing.approvers_of(globex.pending)}
    assert told == {globex.approver.username}
    assert acme.approver.username not in {user.username for user in routing.deciders_of(globex.pending)}
