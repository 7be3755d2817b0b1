"""Sign-in with a real OpenID Connect provider (django-oauth-toolkit in its own process, tests/fixtures/oidc.py).

The portal fetches discovery, keys, tokens and userinfo from the provider over HTTP;
nothing of mozilla-django-oidc is mocked. A requests session plays the browser.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import User

from accounts import directory, roles
from accounts.models import DirectoryEvent
from accounts.oidc import DirectoryOIDCBackend, TokenRejected

pytestmark = pytest.mark.django_db


def _start(client, next_url: str = "/") -> str:
    response = client.get("/oidc/authenticate/", {"next": next_url})
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def _sign_in(client, provider, username: str):
    authorize = _start(client)
    query = parse_qs(urlsplit(authorize).query)
    # PKCE, state and nonce on every request to the provider
    assert query["code_challenge_method"] == ["S256"] and query["state"][0] and query["nonce"][0]
    callback = provider.authorize(authorize, username)
    return client.get(callback.removeprefix("http://testserver")), callback


def _roles(username: str) -> set[str]:
    return set(
        User.objects.get(username=username).groups.filter(name__in=roles.ALL_ROLES).values_list("name", flat=True)
    )


def test_the_login_page_offers_the_provider_beside_the_local_form(client, oidc_settings):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Test IdP" in page
    assert 'name="password"' in page  # the local form stays, for break-glass accounts


def test_first_login_creates_the_user_with_the_role_of_their_group(client, oidc_provider, oidc_settings):
    response, _callback = _sign_in(client, oidc_provider, "olivia")
    assert response.status_code == 302 and response["Location"] == "/", response.content.decode()[:1000]
    olivia = User.objects.get(username="olivia")
    assert _roles("olivia") == {roles.ANALYSTS}
    assert not olivia.has_usable_password()
    events = DirectoryEvent.objects.filter(username="olivia").order_by("id")
    assert list(events.values_list("actor", "source", "action")) == [
        ("directory", "oidc", "created"),
        ("directory", "oidc", "role_added"),
    ]
    assert client.get("/").status_code == 200


def test_a_role_removed_at_the_provider_is_removed_at_the_next_login(client, oidc_provider, oidc_settings):
    _sign_in(client, oidc_provider, "opal")
    assert _roles("opal") == {roles.ANALYSTS, roles.AUDITORS}
    oidc_provider.set_groups("opal", ["soc-analysts"])
    try:
        client.post("/accounts/logout/")
        response, _ = _sign_in(client, oidc_provider, "opal")
        assert response.status_code == 302
        assert _roles("opal") == {roles.ANALYSTS}
        assert DirectoryEvent.objects.filter(username="opal", action="role_removed", detail=roles.AUDITORS).exists()
    finally:
        oidc_provider.set_groups("opal", ["soc-analysts", "soc-auditors"])


def test_a_person_in_no_mapped_group_is_refused_with_a_clear_message_and_nothing_is_created(
    client, oidc_provider, oidc_settings
):
    response, _ = _sign_in(client, oidc_provider, "ozzy")
    assert response.status_code == 403
    assert "not in any group that gives a role in this portal" in response.content.decode()
    assert not User.objects.filter(username="ozzy").exists()
    assert "_auth_user_id" not in client.session


def test_an_expired_id_token_is_refused(client, oidc_provider, oidc_settings):
    response, _ = _sign_in(client, oidc_provider, "oona")
    assert response.status_code == 400
    assert "has expired" in response.content.decode()
    assert not User.objects.filter(username="oona").exists()


def test_a_tampered_id_token_is_refused(oidc_provider, oidc_settings, rf):
    """A real ID token from the provider, one claim changed: the signature no longer matches."""
    import base64
    import json

    token = _real_id_token(oidc_provider, "olivia", nonce="n-123")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    backend = DirectoryOIDCBackend()
    backend.OIDC_OP_JWKS_ENDPOINT = oidc_provider.issuer + "/.well-known/jwks.json"
    assert backend.verify_token(token, nonce="n-123")["preferred_username"] == "olivia"  # the untouched token passes
    claims["groups"] = ["soc-approvers"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(TokenRejected, match="could not be verified"):
        backend.verify_token(f"{header}.{forged}.{signature}", nonce="n-123")
    with pytest.raises(TokenRejected):  # the right token, for another login
        backend.verify_token(token, nonce="another-login")


def _real_id_token(provider, username: str, *, nonce: str) -> str:
    """An ID token from the provider's own authorization-code flow (the portal's client, PKCE)."""
    import base64
    import hashlib
    import secrets

    from tests.fixtures.oidc import CALLBACK, CLIENT_ID, CLIENT_SECRET

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    authorize = (
        provider.issuer
        + "/authorize/?"
        + requests.compat.urlencode(
            {
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": CALLBACK,
                "scope": "openid profile email",
                "state": "s",
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
    )
    code = parse_qs(urlsplit(provider.authorize(authorize, username)).query)["code"][0]
    answer = requests.post(
        provider.issuer + "/token/",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["id_token"]


def test_a_replayed_answer_and_a_token_with_another_logins_nonce_are_refused(client, oidc_provider, oidc_settings):
    response, callback = _sign_in(client, oidc_provider, "olivia")
    assert response.status_code == 302
    client.post("/accounts/logout/")
    # The same answer again (state and code used once already): refused.
    replay = client.get(callback.removeprefix("http://testserver"))
    assert replay.status_code in (400, 403) and "did not complete" in replay.content.decode()
    assert "_auth_user_id" not in client.session

    # Two logins started; the provider is asked for the first with the nonce of the second (PKCE and
    # state are the first's, so only the nonce can tell): the token is not this login's.
    first_url = _start(client)
    first = parse_qs(urlsplit(first_url).query)
    second = parse_qs(urlsplit(_start(client)).query)
    assert first["nonce"] != second["nonce"]
    mixed = first_url.replace(f"nonce={first['nonce'][0]}", f"nonce={second['nonce'][0]}")
    response = client.get(oidc_provider.authorize(mixed, "olivia").removeprefix("http://testserver"))
    assert response.status_code == 400 and "could not be verified" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_unreachable_provider_gives_a_clear_message_and_the_local_break_glass_still_works(
    client, oidc_settings, root
):
    oidc_settings.OIDC_ISSUER = "http://127.0.0.1:1/o"  # nothing listens there
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 503
    assert "the provider did not answer" in response.content.decode()
    response = client.post("/accounts/login/", {"username": "root", "password": "root-password-1234"})
    assert response.status_code == 302


def test_mfa_at_the_provider_replaces_the_portals_totp(client, oidc_provider, oidc_settings):
    response, _ = _sign_in(client, oidc_provider, "oscar")  # an approver; amr has "mfa"
    assert response.status_code == 302
    assert _roles("oscar") == {roles.APPROVERS}
    assert client.session[directory.PROVIDER_MFA_SESSION_KEY] is True
    assert client.get("/").status_code == 200  # no detour to the portal's second factor


def test_without_mfa_at_the_provider_the_portal_asks_for_its_own_totp(client, oidc_provider, oidc_settings):
    response, _ = _sign_in(client, oidc_provider, "otto")  # an approver; amr is only "pwd"
    assert response.status_code == 302
    assert client.session[directory.PROVIDER_MFA_SESSION_KEY] is False
    assert client.get("/").url.startswith("/account/two-factor/")


def test_an_acr_listed_in_oidc_mfa_acr_counts_as_mfa():
    from django.test import override_settings

    from accounts.oidc import carried_mfa

    with override_settings(OIDC_MFA_ACR=["http://schemas.openid.net/pape/policies/2007/06/multi-factor"]):
        assert carried_mfa({"acr": "http://schemas.openid.net/pape/policies/2007/06/multi-factor"})
        assert not carried_mfa({"acr": "1", "amr": ["pwd"]})


def _make_stale(client) -> None:
    session = client.session
    session["portal_authenticated_at"] = int(time.time()) - 3600  # the login is an hour old
    session.save()


def test_step_up_offers_the_provider_to_whom_signed_in_there_without_a_portal_code(
    client, oidc_provider, oidc_settings
):
    _sign_in(client, oidc_provider, "oscar")
    _make_stale(client)
    page = client.post("/account/two-factor/remove/")  # a step-up-protected action
    assert page.status_code == 403
    assert 'id="step-up-provider"' in page.content.decode() and "stepup_password" not in page.content.decode()


def test_step_up_refuses_a_fresh_login_of_someone_else(client, oidc_provider, oidc_settings):
    _sign_in(client, oidc_provider, "oscar")
    _make_stale(client)
    response = client.get("/oidc/step-up/", {"next": "/"})
    oidc_provider.browsers.pop("olivia", None)
    callback = oidc_provider.authorize(response["Location"], "olivia")  # someone else types their password
    refused = client.get(callback.removeprefix("http://testserver"))
    assert refused.status_code == 403 and "You confirmed as someone else" in refused.content.decode()
    assert "_auth_user_id" not in client.session  # and the session is over


def test_step_up_asks_the_provider_for_a_fresh_login_of_the_same_person(client, oidc_provider, oidc_settings):
    _sign_in(client, oidc_provider, "oscar")
    _make_stale(client)
    response = client.get("/oidc/step-up/", {"next": "/"})
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
    time.sleep(1.1)  # the provider's auth_time is in whole seconds
    callback = oidc_provider.authorize(response["Location"], "oscar")
    confirmed = client.get(callback.removeprefix("http://testserver"))
    assert confirmed.status_code == 302 and confirmed["Location"] == "/"
    assert client.session["portal_authenticated_at"] >= int(time.time()) - 5


def test_logout_also_logs_out_at_the_provider(client, oidc_provider, oidc_settings):
    _sign_in(client, oidc_provider, "olivia")
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(oidc_provider.issuer + "/logout/")
    assert parse_qs(urlsplit(location).query)["client_id"] == ["edr-portal"]
    assert "_auth_user_id" not in client.session
