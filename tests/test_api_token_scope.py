"""API tokens decide only when issued for it, and the admin shows no second-factor secrets (issue 12, point 5).

A token skips the browser's second factor and step-up. An approver's token made for
a script used to approve, reject and retry like the approver in person; now a token
does that only when issued with ``create_api_token --scope decisions``. The default
scope files requests and reads them. The scope is shown on the account page and in
the admin, and the command warns when it makes a token for an approver.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import ApiToken, TokenScope
from responses.models import Status
from tests.fixtures.accounts import enrol_totp
from tests.fixtures.api import NEW, REQUESTS, failed, file, url


def create_token(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


class TestTheDefaultScope:
    @pytest.mark.parametrize("action", ["approve", "reject", "retry"])
    def test_an_approvers_token_cannot_decide(self, api, alice, bob, carol, action):
        target = failed(alice, carol) if action == "retry" else file(alice)
        before = target.status
        client = api(bob, scope=TokenScope.FILE)

        response = client.post(url(target, action), {"comment": "from a script"}, format="json")

        assert response.status_code == 403, response.content
        assert response.json()["code"] == "permission_denied"
        assert "--scope decisions" in response.json()["detail"]
        target.refresh_from_db()
        assert target.status == before
        assert target.approvals.filter(approver=bob).count() == 0

    def test_it_files_reads_and_cancels_its_own(self, api, alice):
        client = api(alice, scope=TokenScope.FILE)
        filed = client.post(REQUESTS, NEW, format="json")
        assert filed.status_code == 201
        key = filed.json()["id"]
        assert client.get(url(key)).status_code == 200
        assert client.post(url(key, "cancel"), {}, format="json").json()["status"] == Status.CANCELLED

    def test_the_request_offers_no_decision_to_it(self, api, alice, bob):
        request = file(alice)
        assert "approve" not in api(bob, scope=TokenScope.FILE).get(url(request)).json()["actions"]
        assert "approve" in api(bob, scope=TokenScope.DECISIONS).get(url(request)).json()["actions"]

    def test_a_decisions_token_decides(self, api, alice, bob):
        request = file(alice)
        response = api(bob, scope=TokenScope.DECISIONS).post(url(request, "approve"), {}, format="json")
        assert response.status_code == 200
        assert response.json()["status"] in (Status.APPROVED, Status.QUEUED)


class TestTheCommand:
    def test_the_default_scope_is_file_and_read(self, alice):
        _, notes = create_token("alice")
        assert ApiToken.objects.get().scope == TokenScope.FILE
        assert "scope file" in notes and "is an approver" not in notes

    def test_decisions_must_be_asked_for_and_an_approver_is_warned(self, bob):
        key, notes = create_token("bob", "--scope", "decisions")
        assert ApiToken.objects.get().scope == TokenScope.DECISIONS
        assert "Warning: bob is an approver" in notes and "can approve, reject and retry" in notes
        assert key not in notes

    def test_an_approver_is_warned_for_the_default_scope_too(self, bob):
        _, notes = create_token("bob")
        assert "Warning: bob is an approver" in notes and "cannot decide" in notes

    def test_an_unknown_scope_is_refused_and_issues_nothing(self, alice):
        with pytest.raises(CommandError, match="invalid choice: 'admin'"):
            create_token("alice", "--scope", "admin")
        assert ApiToken.objects.count() == 0


def test_the_account_page_shows_each_tokens_scope(client, login, bob):
    create_token("bob")
    create_token("bob", "--scope", "decisions")
    login(client, bob)

    page = client.get("/account/").content.decode()

    assert page.count('class="token-scope"') == 2
    assert "File and read" in page and "File, read and decide (approve, reject, retry)" in page


def test_the_admin_lists_tokens_with_their_scope_and_no_hash(client, login, root, bob):
    create_token("bob", "--scope", "decisions")
    token = ApiToken.objects.get()
    login(client, root)

    listing = client.get("/admin/accounts/apitoken/").content.decode()
    detail = client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()

    assert token.key_prefix in listing and "File, read and decide" in listing
    assert token.key_hash not in listing and token.key_hash not in detail


class TestTheAdminHidesSecondFactorSecrets:
    def test_no_totp_key_and_no_qr_code(self, client, login, root, bob):
        device = enrol_totp(bob)
        login(client, root)

        page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")

        assert page.status_code == 200
        assert device.key not in page.content.decode()
        assert 'name="key"' not in page.content.decode()
        assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 403
        assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/").status_code == 403

    def test_no_recovery_codes(self, client, login, root, bob):
        from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

        device = StaticDevice.objects.create(user=bob, name="Recovery codes", confirmed=True)
        StaticToken.objects.create(device=device, token="abcd2345")
        login(client, root)

        page = client.get(f"/admin/otp_static/staticdevice/{device.pk}/change/")

        assert page.status_code == 200
        assert "abcd2345" not in page.content.decode()
