"""Passwords: Argon2 in production, and a lockout (django-axes) after repeated failures, logged and recorded.

The lockout is keyed on the pair (username, client address): a guesser is stopped
after LOGIN_FAILURE_LIMIT failures, even with the right password, while the same
user from elsewhere and other users from the same address still log in.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.hashers import Argon2PasswordHasher, identify_hasher
from django.contrib.auth.models import User
from django.test import override_settings

from tests.fixtures.accounts import enrol_totp

LOGIN = "/accounts/login/"
LIMIT = 3


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def attempt(client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_it_locks_the_user_out_from_that_address_after_the_limit(client, alice, caplog):
    for _ in range(LIMIT - 1):
        assert attempt(client, "alice", "wrong").status_code == 200  # the form again, with its error

    with caplog.at_level(logging.WARNING, logger="accounts.account_views"):
        locked = attempt(client, "alice", "wrong-again-secret")

    assert locked.status_code == 429
    assert "Login locked" in locked.content.decode()
    assert int(locked["Retry-After"]) > 0
    # Now even the right password is refused, and nobody is logged in.
    right = attempt(client, "alice", "alice-password-1234")
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_logged_without_the_password(client, alice, caplog):
    with caplog.at_level(logging.WARNING, logger="accounts.account_views"):
        for index in range(LIMIT):
            attempt(client, "alice", f"guess-{index}-hunter2")

    lines = [record.getMessage() for record in caplog.records if record.name == "accounts.account_views"]
    assert len(lines) == 1
    assert "locked out" in lines[0] and "'alice'" in lines[0] and "127.0.0.1" in lines[0]
    assert "hunter2" not in caplog.text  # no password in any log line


def test_the_lockout_leaves_an_auditable_record(client, alice):
    for index in range(LIMIT):
        attempt(client, "alice", f"guess-{index}")

    attempt_row = AccessAttempt.objects.get(username="alice")
    assert (attempt_row.ip_address, attempt_row.failures_since_start) == ("127.0.0.1", LIMIT)
    assert "guess-" not in attempt_row.post_data  # what was typed as password is masked
    failures = AccessFailureLog.objects.filter(username="alice").order_by("attempt_time")
    assert [row.locked_out for row in failures] == [False] * (LIMIT - 1) + [True]


def test_the_same_user_from_another_address_and_others_from_this_one_still_log_in(client, alice, frank):
    for _ in range(LIMIT):
        attempt(client, "alice", "wrong")

    assert attempt(client, "alice", "alice-password-1234", address="10.1.2.3").status_code == 302
    client.logout()
    assert attempt(client, "frank", "frank-password-1234").status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, alice, settings):
    for _ in range(LIMIT):
        attempt(client, "alice", "wrong")
    assert attempt(client, "alice", "alice-password-1234").status_code == 429

    # The cool-off (LOGIN_LOCKOUT_SECONDS) passes.
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - settings.AXES_COOLOFF_TIME * 2)

    assert attempt(client, "alice", "alice-password-1234").status_code == 302


def test_wrong_second_factor_codes_count_towards_the_lockout(client, bob, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no waiting between codes: only the lockout is under test here
    enrol_totp(bob)
    assert attempt(client, "bob", "bob-password-1234").status_code == 302  # on to the code page

    statuses = [client.post("/accounts/verify/", {"code": "000000"}).status_code for _ in range(LIMIT)]

    assert statuses == [200] * (LIMIT - 1) + [429]
    assert "_auth_user_id" not in client.session  # the half-logged-in session is ended
    assert attempt(client, "bob", "bob-password-1234").status_code == 429


def test_production_hashes_passwords_with_argon2():
    import portal.settings as production

    # tests/settings.py uses MD5 for speed; the portal's own settings put Argon2 first.
    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    encoded = Argon2PasswordHasher().encode("correct horse battery staple", Argon2PasswordHasher().salt())
    assert encoded.startswith("argon2$argon2id$")
    assert Argon2PasswordHasher().verify("correct horse battery staple", encoded)


@pytest.mark.django_db
def test_a_password_set_under_argon2_is_stored_as_argon2():
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.Argon2PasswordHasher"]):
        user = User.objects.create_user("erin", password="erin-password-1234")
        assert identify_hasher(user.password).algorithm == "argon2"
        assert user.check_password("erin-password-1234")


@pytest.mark.django_db
@pytest.mark.parametrize("length", [151, 256, 10_000])
def test_an_over_long_username_is_a_form_error_not_a_server_error(client, length):
    """The widget's maxlength binds no script; django-axes' username column is varchar(255)."""
    client.raise_request_exception = False  # a 500 must show as a status here, not as an exception
    response = attempt(client, "u" * length, "whatever-password")
    assert response.status_code == 200
    assert "A username has at most 150 characters." in response.content.decode()
    assert not AccessAttempt.objects.exists()  # nobody's count moves: no account has such a name
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_username_of_the_longest_allowed_length_is_still_checked_as_usual(client):
    response = attempt(client, "u" * 150, "whatever-password")
    assert response.status_code == 200 and "at most 150 characters" not in response.content.decode()
    assert AccessFailureLog.objects.filter(username="u" * 150).count() == 1


@pytest.mark.django_db
def test_a_directory_refusal_is_no_password_failure_but_a_wrong_directory_password_still_counts(client, ldap_settings):
    from tests.fixtures.ldap import USERS

    # mallory's directory password is right; she is in no group that gives a role.
    for _ in range(LIMIT + 1):
        refused = attempt(client, "mallory", USERS["mallory"][0])
        assert refused.status_code == 200 and "not in any group that gives a role" in refused.content.decode()
    assert not AccessAttempt.objects.exists()
    assert AccessFailureLog.objects.filter(username="mallory", locked_out=False).count() == LIMIT + 1

    statuses = [attempt(client, "alice", "not-alices-directory-password").status_code for _ in range(LIMIT)]
    assert statuses == [200] * (LIMIT - 1) + [429]
