"""API tokens: revoked and expired ones are refused; people revoke their own on the account page, admins by command."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from auditlog.models import LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import ApiToken
from accounts.tokens import issue_token
from tests.fixtures.api import REQUESTS, client_with_token


def revoke(*args: str) -> str:
    out = io.StringIO()
    call_command("revoke_api_token", *args, stdout=out)
    return out.getvalue()


def works(key: str) -> bool:
    return client_with_token(key).get(REQUESTS).status_code == 200


class TestRefusal:
    def test_a_revoked_token_is_refused(self, alice):
        token, key = issue_token(alice)
        assert works(key)
        revoke(token.key_prefix)
        response = client_with_token(key).get(REQUESTS)
        assert response.status_code == 401 and "revoked" in response.json()["detail"]

    def test_an_expired_token_is_refused(self, alice):
        _, key = issue_token(alice, expires_at=timezone.now() + dt.timedelta(seconds=1))
        assert works(key)
        ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        response = client_with_token(key).get(REQUESTS)
        assert response.status_code == 401 and "expired" in response.json()["detail"]


class TestRevokeCommand:
    def test_it_revokes_by_prefix_and_says_which(self, alice):
        token, key = issue_token(alice, name="KUMA")
        other_token, other = issue_token(alice)

        output = revoke(token.key_prefix)

        assert output == f"Revoked {token.key_prefix}… of alice (KUMA)\n"
        assert not works(key) and works(other)
        token.refresh_from_db()
        assert token.revoked_at is not None

    def test_it_revokes_a_leaked_key_pasted_whole(self, alice):
        token, key = issue_token(alice)
        assert key not in revoke(key)  # the key is not printed back
        assert not works(key)

    def test_it_revokes_every_active_token_of_a_user(self, alice, frank):
        keys = [issue_token(alice)[1] for _ in range(2)]
        franks = issue_token(frank)[1]

        assert revoke("--user", "alice").count("Revoked") == 2

        assert not any(works(key) for key in keys) and works(franks)

    def test_the_revocation_is_audited(self, alice):
        token, _ = issue_token(alice)
        revoke(token.key_prefix)
        entry = LogEntry.objects.get_for_object(token).order_by("-timestamp").first()
        assert "revoked_at" in entry.changes_dict and "key_hash" not in entry.changes_dict

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            ((), "Name a token"),
            (("edr_nosuch",), "No active token matches"),
            (("nonsense",), "start with 'edr_'"),
            (("--user", "nobody"), "No user 'nobody'"),
        ],
    )
    def test_it_refuses_what_matches_nothing(self, alice, args, message):
        issue_token(alice)
        with pytest.raises(CommandError, match=message):
            revoke(*args)
        assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 1

    def test_a_revoked_token_is_not_revoked_twice(self, alice):
        token, _ = issue_token(alice)
        revoke(token.key_prefix)
        with pytest.raises(CommandError, match="revoked already"):
            revoke(token.key_prefix)


class TestAccountPage:
    def test_it_lists_the_users_own_tokens_without_their_keys(self, client, login, alice, frank):
        token, key = issue_token(alice, name="my script", expires_at=timezone.now() + dt.timedelta(days=30))
        franks, _ = issue_token(frank, name="frank's")
        login(client, alice)

        page = client.get("/account/").content.decode()

        assert token.key_prefix in page and "my script" in page and "active" in page
        assert key not in page and token.key_hash not in page
        assert franks.key_prefix not in page

    def test_a_user_revokes_their_own_token(self, client, login, alice):
        token, key = issue_token(alice)
        login(client, alice)

        response = client.post("/account/tokens/revoke/", {"token": token.key_prefix})

        assert response.status_code == 302
        assert not works(key)
        assert "revoked" in client.get("/account/").content.decode()

    def test_nobody_revokes_someone_elses_token(self, client, login, alice, frank):
        franks, key = issue_token(frank)
        login(client, alice)

        client.post("/account/tokens/revoke/", {"token": franks.key_prefix})

        assert works(key)
