"""`manage.py create_demo_users`: one user per role, passwords printed once, kept on a second run."""

from __future__ import annotations

import io
import re

from django.contrib.auth import authenticate as django_authenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import RequestFactory

from accounts import roles


def authenticate(username: str, password: str):
    # As the login page does: django-axes (the lockout) needs the request.
    return django_authenticate(RequestFactory().post("/accounts/login/"), username=username, password=password)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("create_demo_users", *args, stdout=out)
    return out.getvalue()


def test_it_creates_one_user_per_role_with_printed_passwords(db):
    output = run()
    passwords = dict(re.findall(r"^\s+(\w+)\s.*: password (\S+)$", output, re.MULTILINE))
    assert set(passwords) == {"alice", "bob", "carol", "dave", "admin"}
    assert len(set(passwords.values())) == 5  # generated, not shared
    for username, password in passwords.items():
        assert authenticate(username=username, password=password) is not None
    assert roles.has_role(User.objects.get(username="alice"), roles.ANALYSTS)
    assert roles.has_role(User.objects.get(username="bob"), roles.APPROVERS)
    assert roles.has_role(User.objects.get(username="dave"), roles.AUDITORS)
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and not roles.has_role(admin, roles.APPROVERS)


def test_a_second_run_keeps_users_and_passwords(db):
    first = dict(re.findall(r"^\s+(\w+)\s.*: password (\S+)$", run(), re.MULTILINE))
    second = run()
    assert "password" not in second.replace("password unchanged", "").replace("passwords are shown", "")
    assert authenticate(username="alice", password=first["alice"]) is not None
    assert User.objects.filter(username__in=first).count() == 5


def test_reset_passwords_gives_new_ones(db):
    first = dict(re.findall(r"^\s+(\w+)\s.*: password (\S+)$", run(), re.MULTILINE))
    second = dict(re.findall(r"^\s+(\w+)\s.*: password (\S+)$", run("--reset-passwords"), re.MULTILINE))
    assert authenticate(username="bob", password=first["bob"]) is None
    assert authenticate(username="bob", password=second["bob"]) is not None


def test_approvers_and_the_admin_get_an_authenticator_key_printed_once(db):
    import base64

    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    output = run()
    keys = dict(re.findall(r"^\s+(\w+)\s.*: password \S+\n\s+authenticator key .*: ([A-Z2-7]+)$", output, re.M))
    assert set(keys) == {"bob", "carol", "admin"}  # two-factor authentication is required of them
    for username, secret in keys.items():
        device = TOTPDevice.objects.get(user__username=username, confirmed=True)
        assert base64.b32decode(secret) == device.bin_key
        assert device.verify_token(TOTP(device.bin_key).token())
    assert not re.search(r"authenticator key .*: [A-Z2-7]+$", run(), re.M)  # a second run prints no key


def demo_totp(username: str) -> str:
    out = io.StringIO()
    call_command("demo_totp", username, stdout=out)
    return out.getvalue().strip()


def test_demo_totp_prints_the_code_an_authenticator_app_shows_now(db, settings):
    import base64

    from django_otp.oath import totp

    settings.KSC_SIMULATED, settings.KSC_HOST = True, "127.0.0.1"
    keys = dict(re.findall(r"^\s+(\w+)\s.*: password \S+\n\s+authenticator key .*: ([A-Z2-7]+)$", run(), re.M))
    before = f"{totp(base64.b32decode(keys['bob'])):06d}"
    code = demo_totp("bob")
    after = f"{totp(base64.b32decode(keys['bob'])):06d}"
    assert re.fullmatch(r"\d{6}", code) and code in (before, after)


def test_demo_totp_refuses_outside_the_simulated_demo(db, settings):
    import pytest
    from django.core.management.base import CommandError

    run()
    # A production portal: a real KSC, or KSC_SIMULATED set by mistake beside a real KSC's address.
    for simulated, host in ((False, ""), (False, "127.0.0.1"), (True, "ksc.corp.example"), (True, "")):
        settings.KSC_SIMULATED, settings.KSC_HOST = simulated, host
        with pytest.raises(CommandError, match="works only in the demo"):
            demo_totp("bob")
    settings.KSC_SIMULATED, settings.KSC_HOST = True, "127.0.0.1"
    with pytest.raises(CommandError, match="no authenticator key"):
        demo_totp("alice")
    with pytest.raises(CommandError, match="no user"):
        demo_totp("mallory")


def test_demo_totp_prints_no_code_of_a_user_who_is_not_a_demo_user(db, settings):
    import pytest
    from django.core.management.base import CommandError

    from accounts.models import DirectoryAccount
    from tests.fixtures.accounts import enrol_totp, make_user

    settings.KSC_SIMULATED, settings.KSC_HOST = True, "127.0.0.1"
    run()
    enrol_totp(make_user("erin", roles.APPROVERS))  # made in the admin of the demo portal, with her own phone
    with pytest.raises(CommandError, match="erin is not a demo user"):
        demo_totp("erin")
    # A directory account that happens to bear a demo user's name is not the demo's either.
    carol = User.objects.get(username="carol")
    DirectoryAccount.objects.create(user=carol, source="ldap", subject="uid=carol,ou=People,dc=corp,dc=example")
    with pytest.raises(CommandError, match="carol is not a demo user"):
        demo_totp("carol")
    assert re.fullmatch(r"\d{6}", demo_totp("bob"))  # the demo's own still work
