"""``manage.py ksc_check``: every step against the simulator, and the right words for each failure."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ksc_simulator.server import generate_certificate

# The doctor records each server's login result and contact (responses/server_state.py).
pytestmark = pytest.mark.django_db


@pytest.fixture(params=["builtin", "klakoapi"])
def client_choice(request, settings):
    """The doctor runs with the portal's configured client: both must tell failures apart."""
    from responses.ksc_servers import klakoapi_importable

    if request.param == "klakoapi" and not klakoapi_importable():
        pytest.skip("KlAkOAPI is not installed: Kaspersky's package ships with KSC and is installed by hand")
    settings.KSC_CLIENT = request.param
    return request.param


def check(capsys) -> tuple[int, str]:
    try:
        call_command("ksc_check")
    except CommandError as error:
        return error.returncode, capsys.readouterr().out + str(error)
    return 0, capsys.readouterr().out


def test_it_passes_against_the_simulator(ksc_settings, client_choice, capsys):
    status, out = check(capsys)
    assert status == 0, out
    for step in ("settings", "connection", "TLS certificate", "login", "hosts", "incidents", "tasks", "host's tasks"):
        assert f"OK    {step}:" in out
    assert "FAIL" not in out


def test_a_bad_password_is_told_as_bad_credentials(ksc_settings, client_choice, settings, capsys):
    settings.KSC_PASSWORD = "wrong"
    status, out = check(capsys)
    assert status == 1
    assert "FAIL  login: bad credentials" in out
    assert "wrong" not in out, "the password is never printed"


def test_kscmfa_says_to_exempt_the_api_account(ksc_settings, client_choice, capsys):
    ksc_settings.configure_tasks({"require_mfa": True})
    status, out = check(capsys)
    assert status == 1
    assert "FAIL  login:" in out and "two-factor" in out
    assert "exempt the API account" in out
    assert "bad credentials" not in out


def test_a_certificate_that_is_not_kscs_is_refused(ksc_settings, settings, tmp_path, capsys):
    other, _key = generate_certificate(tmp_path, ["127.0.0.1"])
    settings.KSC_VERIFY = str(other)
    status, out = check(capsys)
    assert status == 1
    assert "FAIL  TLS certificate: KSC's certificate was not accepted" in out
    assert "KSC_CERT" in out
    assert "login" not in out.split("FAIL  TLS certificate")[1].split("\n", 1)[1], "no login is tried"


def test_refused_tasks_access_is_named(ksc_settings, client_choice, capsys):
    ksc_settings.configure_tasks({"deny_tasks": True})
    status, out = check(capsys)
    assert status == 1
    assert "OK    login:" in out
    assert "FAIL  tasks: KSC refused to list its tasks" in out and "right to read tasks" in out


def test_nothing_listening_is_a_connection_failure(ksc_settings, settings, capsys):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        settings.KSC_PORT = probe.getsockname()[1]
    status, out = check(capsys)
    assert status == 1
    assert "FAIL  connection: cannot open a connection" in out


@pytest.mark.parametrize("name", ["KSC_HOST"])
def test_missing_settings_stop_at_the_first_step(settings, capsys, name):
    setattr(settings, name, None)
    status, out = check(capsys)
    assert status == 1
    assert "FAIL  settings: KSC_HOST is not set" in out
