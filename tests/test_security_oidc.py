"""What the second security test found in the OpenID Connect sign-in (issue 23), against the suite's real provider.

The provider (tests/oidc_provider/) misbehaves on purpose for some of its users: an ID
token without ``amr`` but a userinfo answer that claims MFA, an e-mail it did not verify,
an ID token whose header names no key. A ``requests`` session plays the browser there;
the portal is the Django test client.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from accounts import directory

pytestmark = pytest.mark.django_db


def sign_in(client, provider, username: str, *, password: str | None = None):
    """The whole round trip: the portal sends the browser to the provider, the person logs in, back to the callback."""
    start = client.get("/oidc/authenticate/", {"next": "/"})
    assert start.status_code == 302, start.content.decode()[:500]
    callback = provider.authorize(start["Location"], username, password=password)
    return client.get(callback.removeprefix("http://testserver"))


@pytest.fixture
def behaving(oidc_provider):
    """``behaving("orla", "provider:...")``: the provider behaves so for her until the test ends."""
    changed: list[str] = []

    def set_behaviours(username: str, *behaviours: str) -> None:
        from tests.fixtures.oidc import PEOPLE

        changed.append(username)
        oidc_provider.set_groups(username, [*PEOPLE[username][1], *behaviours])

    yield set_behaviours
    from tests.fixtures.oidc import PEOPLE

    for username in changed:
        oidc_provider.set_groups(username, PEOPLE[username][1])


# --- Point 10: amr from the verified ID token only -------------------------------------------------


def test_mfa_claimed_only_in_the_userinfo_answer_does_not_count(client, oidc_provider, oidc_settings):
    response = sign_in(client, oidc_provider, "omar")  # an approver; "mfa" in userinfo, no amr in the ID token
    assert response.status_code == 302
    assert client.session[directory.PROVIDER_MFA_SESSION_KEY] is False
    # So the portal asks for its own second factor before anything else.
    assert client.get("/").url.startswith("/account/two-factor/")


# --- Point 19: the e-mail only when the provider verified it, and only one address -------------------


def test_a_verified_single_address_is_kept(client, oidc_provider, oidc_settings):
    assert sign_in(client, oidc_provider, "orla").status_code == 302
    assert User.objects.get(username="orla").email == "orla@idp.example"


@pytest.mark.parametrize(
    "behaviours",
    [
        ("provider:email-unverified",),
        ("provider:email=orla@idp.example, soc-lead@corp.example",),
        ("provider:email=orla@idp.example\r\nBcc: everyone@corp.example",),
        ("provider:email=Orla <orla@idp.example>",),
        ("provider:email=not an address",),
    ],
    ids=["unverified", "two-addresses", "header-line", "display-name", "junk"],
)
def test_an_unverified_or_malformed_email_is_not_used(client, oidc_provider, oidc_settings, behaving, behaviours):
    assert sign_in(client, oidc_provider, "orla").status_code == 302
    assert User.objects.get(username="orla").email == "orla@idp.example"  # from a verified first login
    client.post("/accounts/logout/")
    behaving("orla", *behaviours)

    response = sign_in(client, oidc_provider, "orla")

    assert response.status_code == 302  # the sign-in itself goes on: the address is not who she is
    assert User.objects.get(username="orla").email == ""  # and the old address is not kept as if still vouched for


# --- Informational: an ID token without kid --------------------------------------------------------


def test_an_id_token_whose_header_names_no_key_is_refused_cleanly(client, oidc_provider, oidc_settings):
    client.raise_request_exception = False
    response = sign_in(client, oidc_provider, "olaf")
    assert response.status_code == 400
    assert "could not be verified" in response.content.decode()
    assert not User.objects.filter(username="olaf").exists()
    assert "_auth_user_id" not in client.session
