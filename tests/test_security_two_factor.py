"""Two-factor authentication: required of approvers and superusers, through the real login page.

After the password, a user who needs 2FA and has an authenticator enters its code (or
a recovery code) before anything else; one who has none is sent to set it up and can
do nothing else until it is confirmed. These tests log in through /accounts/login/,
not the ``login`` fixture (which stands for a whole login elsewhere in the suite).
"""

from __future__ import annotations

import base64
import re

import pytest
from django.contrib.auth.models import Group
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import roles
from accounts.tokens import issue_token
from tests.fixtures.accounts import enrol_totp, totp_code

LOGIN = "/accounts/login/"
VERIFY = "/accounts/verify/"
SETUP = "/account/two-factor/"


def log_in(client, username: str, next_url: str = "/"):
    response = client.post(
        f"{LOGIN}?next={next_url}", {"username": username, "password": f"{username}-password-1234", "next": next_url}
    )
    assert response.status_code == 302, response.content.decode()[:500]
    return response


def recovery_codes(device: TOTPDevice, *codes: str) -> None:
    static = StaticDevice.objects.create(user=device.user, name="Recovery codes", confirmed=True)
    for code in codes:
        StaticToken.objects.create(device=static, token=code)


class TestApproverWithoutAuthenticator:
    def test_the_password_leads_to_enrolment_and_nothing_else(self, client, bob):
        response = log_in(client, "bob", "/approvals/")
        assert client.get(response["Location"], follow=True).redirect_chain[-1][0].startswith(SETUP)

        for url in ("/", "/approvals/", "/requests/", "/account/", "/admin/", VERIFY, "/api/v1/docs/"):
            response = client.get(url)
            assert response.status_code == 302 and response["Location"].startswith(SETUP), url
        assert client.post("/requests/00000000-0000-0000-0000-000000000000/approve/").status_code == 302

    def test_enrolment_shows_the_key_and_a_code_confirms_it(self, client, bob):
        log_in(client, "bob")
        page = client.get(SETUP).content.decode()
        device = TOTPDevice.objects.get(user=bob, confirmed=False)

        uri = re.search(r'id="totp-uri"[^>]*>(otpauth://totp/[^<]+)<', page).group(1)
        secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
        assert base64.b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key
        assert f"secret={secret}" in uri.replace("&amp;", "&") and "issuer=EDR%20response%20portal" in uri
        assert "<svg" in page  # the QR code, inline
        assert client.get(SETUP).content.decode().count(secret[:8]) >= 1  # a reload shows the same key
        assert TOTPDevice.objects.filter(user=bob).count() == 1

        confirmed = client.post(SETUP, {"code": totp_code(device)})

        assert confirmed.status_code == 200
        assert "no-store" in confirmed["Cache-Control"]
        codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", confirmed.content.decode())
        assert len(codes) == 10 and len(set(codes)) == 10
        device.refresh_from_db()
        assert device.confirmed
        assert client.get("/approvals/").status_code == 200  # verified by the enrolment itself
        assert client.get(SETUP).status_code == 302  # the key is not shown again
        assert secret not in client.get("/account/").content.decode()

    def test_a_wrong_code_does_not_confirm(self, client, bob):
        log_in(client, "bob")
        client.get(SETUP)
        device = TOTPDevice.objects.get(user=bob)

        response = client.post(SETUP, {"code": "000000" if totp_code(device) != "000000" else "111111"})

        assert response.status_code == 200
        assert "That code is not valid" in response.content.decode()
        device.refresh_from_db()
        assert not device.confirmed
        assert client.get("/").status_code == 302


class TestApproverWithAuthenticator:
    @pytest.fixture
    def device(self, bob) -> TOTPDevice:
        return enrol_totp(bob)

    def test_the_password_leads_to_the_code_and_nothing_else(self, client, bob, device):
        response = log_in(client, "bob", "/approvals/")
        response = client.get(response["Location"])
        assert response.status_code == 302 and response["Location"] == f"{VERIFY}?next=%2Fapprovals%2F"

        for url in ("/", "/requests/", "/account/", SETUP, "/admin/"):
            response = client.get(url)
            assert response.status_code == 302 and response["Location"].startswith(VERIFY), url

    def test_the_right_code_opens_the_portal(self, client, bob, device):
        log_in(client, "bob")
        session_key = client.session.session_key

        response = client.post(VERIFY, {"code": totp_code(device), "next": "/approvals/"})

        assert response.status_code == 302 and response["Location"] == "/approvals/"
        assert client.get("/approvals/").status_code == 200
        assert client.session.session_key != session_key  # a new key for the verified session

    def test_a_wrong_code_is_refused(self, client, bob, device):
        log_in(client, "bob")
        wrong = "123456" if totp_code(device) != "123456" else "654321"

        response = client.post(VERIFY, {"code": wrong})

        assert response.status_code == 200
        assert "That code is not valid" in response.content.decode()
        assert client.get("/").status_code == 302
        # And the next try must wait: django-otp slows guessing down.
        response = client.post(VERIFY, {"code": totp_code(device)})
        assert "Too many wrong codes" in response.content.decode()

    def test_a_code_works_once(self, client, bob, device):
        code = totp_code(device)
        log_in(client, "bob")
        assert client.post(VERIFY, {"code": code}).status_code == 302
        client.post("/accounts/logout/")

        log_in(client, "bob")
        response = client.post(VERIFY, {"code": code})

        assert "That code is not valid" in response.content.decode()

    def test_a_recovery_code_works_once(self, client, bob, device):
        recovery_codes(device, "abcd2345", "efgh6723")
        log_in(client, "bob")

        response = client.post(VERIFY, {"code": "ABCD 2345"})  # as written down

        assert response.status_code == 302 and response["Location"] == "/account/"
        assert client.get("/approvals/").status_code == 200
        assert list(StaticToken.objects.values_list("token", flat=True)) == ["efgh6723"]
        client.post("/accounts/logout/")
        log_in(client, "bob")
        assert "not valid" in client.post(VERIFY, {"code": "abcd2345"}).content.decode()
        assert client.get("/").status_code == 302


def test_superusers_need_it_too_even_for_the_admin(client, root):
    log_in(client, "root", "/admin/")
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(SETUP)


def test_an_analyst_without_an_authenticator_logs_in_with_the_password(client, alice):
    log_in(client, "alice")
    assert client.get("/").status_code == 200


def test_an_analyst_who_set_up_an_authenticator_is_asked_for_its_code(client, alice):
    device = enrol_totp(alice)
    log_in(client, "alice")
    assert client.get("/")["Location"].startswith(VERIFY)
    assert client.post(VERIFY, {"code": totp_code(device)}).status_code == 302
    assert client.get("/").status_code == 200


def test_becoming_an_approver_mid_session_requires_it(client, alice):
    log_in(client, "alice")
    alice.groups.add(Group.objects.get(name=roles.APPROVERS))
    assert client.get("/")["Location"].startswith(SETUP)


def test_api_tokens_are_not_held_by_the_gate(client, bob):
    # The API authenticates by token only; a SIEM never sees the code page.
    _, key = issue_token(bob)
    log_in(client, "bob")  # even beside a half-logged-in session
    response = client.get("/api/v1/requests/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200


def test_removing_it_for_a_new_phone_sends_an_approver_back_to_enrolment(client, login, bob):
    login(client, bob)
    device = TOTPDevice.objects.get(user=bob)

    response = client.post("/account/two-factor/remove/", {"stepup_code": totp_code(device, steps_ahead=1)})

    assert response.status_code == 302 and response["Location"] == SETUP
    assert not TOTPDevice.objects.filter(user=bob).exists()
    assert client.get("/approvals/")["Location"].startswith(SETUP)


def test_new_recovery_codes_replace_the_old_ones(client, login, bob):
    login(client, bob)
    recovery_codes(TOTPDevice.objects.get(user=bob), "abcd2345")

    response = client.post("/account/two-factor/recovery-codes/")

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
    assert sorted(StaticToken.objects.values_list("token", flat=True)) == sorted(codes)
    assert "abcd2345" not in codes
