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


# --- Point 13: ?error=... at the callback ----------------------------------------------------------


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def _shown_error(response) -> str:
    """The login page's message about the provider (the page elsewhere keeps its URL, escaped, to switch language)."""
    import re

    found = re.search(r'<div class="errors" role="alert" id="oidc-error">(.*?)</div>', response.content.decode(), re.S)
    assert found, response.content.decode()[:2000]
    return found.group(1)


def test_the_callback_is_not_found_when_openid_connect_is_off(client, login, bob, settings):
    settings.OIDC_ISSUER = ""
    login(client, bob)
    assert client.get("/oidc/callback/", {"error": "access_denied"}).status_code == 404
    assert client.get("/oidc/callback/", {"code": "c", "state": "s"}).status_code == 404
    assert _signed_in(client) and client.get("/").status_code == 200  # bob was not logged out


@pytest.mark.parametrize("state", [None, "forged-state"])
def test_an_error_without_this_browsers_state_is_shown_and_logs_nobody_out(client, login, bob, oidc_settings, state):
    login(client, bob)
    query = {"error": "access_denied", "error_description": "Your account is blocked, call +1 555 0100"}
    if state:
        query["state"] = state
    response = client.get("/oidc/callback/", query)
    assert response.status_code == 400
    shown = _shown_error(response)
    assert "did not complete: it answered access_denied" in shown
    assert "555 0100" not in shown  # the link's own text is not put on the portal's page
    assert _signed_in(client) and client.get("/").status_code == 200


def test_an_error_code_that_is_no_error_code_is_not_shown(client, oidc_settings):
    response = client.get("/oidc/callback/", {"error": "<b>Urgent</b>: call the helpdesk"})
    assert response.status_code == 400
    assert "Urgent" not in _shown_error(response) and "it answered ?" in _shown_error(response)


def test_an_error_for_this_browsers_login_ends_that_login_attempt(client, oidc_provider, oidc_settings):
    start = client.get("/oidc/authenticate/", {"next": "/"})
    from urllib.parse import parse_qs, urlsplit

    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    assert state in client.session["oidc_states"]
    response = client.get(
        "/oidc/callback/", {"error": "access_denied", "error_description": "The user cancelled", "state": state}
    )
    assert response.status_code == 400
    assert "it answered access_denied. Sign in again. (The user cancelled)" in _shown_error(response)
    assert state not in client.session["oidc_states"]  # the state is used up: a later answer for it is refused


def test_a_cancelled_step_up_ends_the_step_up_only(client, oidc_provider, oidc_settings):
    import time
    from urllib.parse import parse_qs, urlsplit

    assert sign_in(client, oidc_provider, "oscar").status_code == 302
    session = client.session
    session["portal_authenticated_at"] = int(time.time()) - 3600  # the login is an hour old
    session.save()
    start = client.get("/oidc/step-up/", {"next": "/approvals/"})
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]

    response = client.get("/oidc/callback/", {"error": "login_required", "state": state})

    assert response.status_code == 302 and response["Location"] == "/approvals/"
    assert _signed_in(client)  # still signed in, and still not stepped up
    assert client.session["portal_authenticated_at"] < int(time.time()) - 3000
    assert "accounts_oidc_step_up" not in client.session


# --- Point 8: the provider's step-up needs MFA there from a user who has the portal's code --------


def _with_portal_code(client, username: str) -> None:
    """The user set up the portal's authenticator and typed its code at login (as the 2FA gate asks)."""
    from django_otp import DEVICE_ID_SESSION_KEY

    from tests.fixtures.accounts import enrol_totp

    session = client.session
    session[DEVICE_ID_SESSION_KEY] = enrol_totp(User.objects.get(username=username)).persistent_id
    session.save()


def _stale(client) -> None:
    import time

    session = client.session
    session["portal_authenticated_at"] = int(time.time()) - 3600
    session.save()


def _provider_step_up(client, provider, username: str):
    import time

    start = client.get("/oidc/step-up/", {"next": "/account/"})
    assert start.status_code == 302, start.content.decode()[:500]
    time.sleep(1.1)  # the provider's auth_time is in whole seconds
    return client.get(provider.authorize(start["Location"], username).removeprefix("http://testserver"))


def test_the_provider_step_up_without_mfa_there_is_refused_to_a_user_with_the_portals_code(
    client, oidc_provider, oidc_settings
):
    import time

    assert sign_in(client, oidc_provider, "otto").status_code == 302  # an approver, password only at the provider
    _with_portal_code(client, "otto")
    assert client.get("/").status_code == 200
    _stale(client)
    page = client.post("/account/two-factor/remove/")
    assert page.status_code == 403 and 'id="step-up-provider"' not in page.content.decode()  # the form asks the code

    # The link the form does not offer, followed anyway: the provider's password alone.
    response = _provider_step_up(client, oidc_provider, "otto")

    assert response.status_code == 302 and response["Location"] == "/account/"
    assert client.session["portal_authenticated_at"] < int(time.time()) - 3000  # not stepped up
    assert "did not use multi-factor authentication" in client.get("/account/").content.decode()
    assert client.post("/account/two-factor/remove/").status_code == 403  # and the device stays


def test_the_provider_step_up_with_mfa_there_still_confirms_a_user_with_the_portals_code(
    client, oidc_provider, oidc_settings
):
    import time

    assert sign_in(client, oidc_provider, "oscar").status_code == 302  # MFA at the provider
    _with_portal_code(client, "oscar")
    _stale(client)
    response = _provider_step_up(client, oidc_provider, "oscar")
    assert response.status_code == 302
    assert client.session["portal_authenticated_at"] >= int(time.time()) - 5


# --- Point 4: refused provider logins lock nobody else out ------------------------------------------

LIMIT = 3


def _subject_key(username: str) -> str:
    from accounts.lockout import oidc_key
    from accounts.models import DirectoryAccount

    subject = DirectoryAccount.objects.get(user__username=username).subject
    return oidc_key(subject.rpartition("#")[2])


def test_a_flood_of_refused_provider_logins_from_one_address_locks_no_approver_out(
    client, oidc_provider, oidc_settings, bob
):
    from axes.models import AccessAttempt, AccessFailureLog

    from tests.fixtures.accounts import enrol_totp, totp_code

    oidc_settings.AXES_FAILURE_LIMIT = LIMIT
    # ozzy is in no SOC group at the provider: every one of his logins is refused, all from 127.0.0.1.
    for _ in range(3 * LIMIT):
        refused = sign_in(client, oidc_provider, "ozzy")
        assert refused.status_code == 403, refused.status_code
        assert "not in any group that gives a role" in refused.content.decode()
    assert not AccessAttempt.objects.exists()  # "no mapped group" is no wrong password: nothing counts
    assert AccessFailureLog.objects.filter(username__startswith="oidc:").count() == 3 * LIMIT  # but auditors see them

    # An approver from the same address signs in with the provider...
    assert sign_in(client, oidc_provider, "oscar").status_code == 302
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    # ...and another with a password and the portal's code.
    device = enrol_totp(bob)
    assert client.post("/accounts/login/", {"username": "bob", "password": "bob-password-1234"}).status_code == 302
    assert client.post("/accounts/verify/", {"code": totp_code(device)}).status_code == 302
    assert client.get("/").status_code == 200


def test_provider_failures_count_under_the_subject_and_lock_only_that_subject(client, oidc_provider, oidc_settings):
    from axes.models import AccessAttempt
    from django.utils import timezone

    oidc_settings.AXES_FAILURE_LIMIT = LIMIT
    assert sign_in(client, oidc_provider, "olivia").status_code == 302
    client.post("/accounts/logout/")
    key = _subject_key("olivia")
    AccessAttempt.objects.create(  # as LIMIT counted failures of olivia's subject from this address leave it
        username=key,
        ip_address="127.0.0.1",
        user_agent="",
        get_data="",
        post_data="",
        http_accept="",
        path_info="/oidc/callback/",
        attempt_time=timezone.now(),
        failures_since_start=LIMIT,
    )

    locked = sign_in(client, oidc_provider, "olivia")

    assert locked.status_code == 429 and "_auth_user_id" not in client.session
    assert sign_in(client, oidc_provider, "opal").status_code == 302  # someone else from the same address


def test_a_provider_login_clears_its_subjects_count(client, oidc_provider, oidc_settings):
    from axes.models import AccessAttempt
    from django.utils import timezone

    oidc_settings.AXES_FAILURE_LIMIT = LIMIT
    assert sign_in(client, oidc_provider, "olivia").status_code == 302
    client.post("/accounts/logout/")
    key = _subject_key("olivia")
    AccessAttempt.objects.create(
        username=key,
        ip_address="127.0.0.1",
        user_agent="",
        get_data="",
        post_data="",
        http_accept="",
        path_info="/oidc/callback/",
        attempt_time=timezone.now(),
        failures_since_start=LIMIT - 1,
    )
    assert sign_in(client, oidc_provider, "olivia").status_code == 302
    assert not AccessAttempt.objects.filter(username=key).exists()


# --- Informational: group names compared exactly after lower() -------------------------------------


def test_a_group_name_that_only_casefolds_to_a_mapped_one_gives_no_role():
    from accounts import roles
    from accounts.role_groups import parse_role_groups, roles_for

    mapping = parse_role_groups("ROLE_GROUPS", '{"Approvers": ["SOC-Straße"], "Analysts": ["soc-ﬁrewall"]}')
    assert roles_for(["soc-straße"], mapping) == {roles.APPROVERS}  # the same name in other case still matches
    assert roles_for(["SOC-STRASSE"], mapping) == set()
    assert roles_for(["soc-firewall"], mapping) == set()
