"""Token authentication, and `manage.py create_api_token` that issues the keys.

A key is shown once and only its hash is stored; every refused token is a 401
with WWW-Authenticate and a message saying why, and nothing is done.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import ApiToken
from accounts.tokens import issue_token
from responses.models import ResponseRequest
from tests.fixtures.api import NEW, REQUESTS, client_with_token


def create_token(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


class TestCommand:
    def test_it_prints_the_key_once_and_stores_only_its_hash(self, alice):
        key, notes = create_token("alice", "--name", "KUMA production")
        token = ApiToken.objects.get()
        assert key.startswith("edr_") and len(key) > 40
        assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert key not in {token.key_hash, token.key_prefix, token.name}
        assert key.startswith(token.key_prefix)
        assert (token.user, token.name, token.expires_at, token.revoked_at) == (alice, "KUMA production", None, None)
        assert "shown only now" in notes and "Analysts" in notes
        assert key not in notes  # the key goes to stdout alone, so that a script can capture it

    def test_the_key_works(self, alice):
        key, _ = create_token("alice")
        assert client_with_token(key).get(REQUESTS).status_code == 200

    def test_each_call_issues_a_new_key(self, alice):
        assert create_token("alice")[0] != create_token("alice")[0]
        assert ApiToken.objects.filter(user=alice).count() == 2

    def test_it_sets_an_expiry(self, alice):
        before = timezone.now()
        create_token("alice", "--expires-in-days", "30")
        expires = ApiToken.objects.get().expires_at
        assert before + dt.timedelta(days=30) <= expires <= timezone.now() + dt.timedelta(days=30)

    def test_it_warns_about_a_user_without_a_role(self, mallory):
        _, notes = create_token("mallory")
        assert "has no role" in notes

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("nobody",), "No user 'nobody'"),
            (("alice", "--expires-in-days", "0"), "between 1 and 3650"),
            (("alice", "--expires-in-days", "99999"), "between 1 and 3650"),
            (("alice", "--name", "KUMA\nprod"), "control characters"),
        ],
    )
    def test_it_refuses_bad_input_and_issues_nothing(self, alice, args, message):
        with pytest.raises(CommandError, match=message):
            create_token(*args)
        assert ApiToken.objects.count() == 0

    def test_it_refuses_a_disabled_user(self, alice):
        alice.is_active = False
        alice.save()
        with pytest.raises(CommandError, match="disabled"):
            create_token("alice")
        assert ApiToken.objects.count() == 0


class TestAuthentication:
    def refused(self, response, message: str) -> None:
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Token realm="api"'
        assert message in response.json()["detail"]

    @pytest.mark.parametrize(
        "path", [REQUESTS, REQUESTS + "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b/", "/api/v1/tasks/", "/api/v1/schema/"]
    )
    def test_no_token_is_a_401_with_www_authenticate(self, api, path):
        # (the schema view answers in YAML unless asked for JSON)
        response = api(None).get(path, HTTP_ACCEPT="application/vnd.oai.openapi+json, application/json")
        self.refused(response, "credentials were not provided")

    def test_no_token_files_nothing(self, api):
        self.refused(api(None).post(REQUESTS, NEW, format="json"), "credentials were not provided")
        assert ResponseRequest.objects.count() == 0

    @pytest.mark.parametrize(
        ("header", "message"),
        [
            ("Token edr_no-such-key", "Invalid token"),
            ("Token", "Malformed Authorization header"),
            ("Token a b", "Malformed Authorization header"),
        ],
    )
    def test_a_bad_token_is_a_401(self, client, alice, header, message):
        self.refused(client.get(REQUESTS, HTTP_AUTHORIZATION=header), message)

    def test_a_password_is_no_token(self, client, alice):
        # Basic auth is not accepted: a SIEM holds a revocable token, never a person's password.
        response = client.get(REQUESTS, HTTP_AUTHORIZATION="Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQtMTIzNA==")
        assert response.status_code == 401

    def test_a_portal_session_is_no_token(self, client, login, alice):
        # The API takes tokens only: a browser session would need CSRF protection on every POST.
        login(client, alice)
        assert client.get(REQUESTS).status_code == 401
        assert client.post(REQUESTS, NEW, content_type="application/json").status_code == 401
        assert ResponseRequest.objects.count() == 0

    def test_a_revoked_token_is_a_401(self, alice):
        token, key = issue_token(alice)
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        self.refused(client_with_token(key).get(REQUESTS), "revoked")

    def test_an_expired_token_is_a_401(self, alice):
        _, key = issue_token(alice, expires_at=timezone.now() - dt.timedelta(seconds=1))
        self.refused(client_with_token(key).get(REQUESTS), "expired on")

    def test_a_token_of_a_disabled_user_is_a_401(self, alice):
        _, key = issue_token(alice)
        alice.is_active = False
        alice.save()
        self.refused(client_with_token(key).post(REQUESTS, NEW, format="json"), "disabled")
        assert ResponseRequest.objects.count() == 0

    def test_it_stamps_the_last_use_at_most_once_a_minute(self, alice):
        token, key = issue_token(alice)
        client = client_with_token(key)
        client.get(REQUESTS)
        token.refresh_from_db()
        first = token.last_used_at
        assert first is not None
        client.get(REQUESTS)
        token.refresh_from_db()
        assert token.last_used_at == first  # not a write per call
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
        client.get(REQUESTS)
        token.refresh_from_db()
        assert token.last_used_at > first
