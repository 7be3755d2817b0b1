"""examples/kuma_response.py, run as KUMA runs it: a subprocess against a live portal.

It files through the API (so the request waits for approval like any other),
prints the request id and status, and on failure exits non-zero with the
portal's own message.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.tokens import issue_token
from responses.models import ResponseRequest, Source, Status
from tests.fixtures.api import HOST

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "kuma_response.py"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=environment, timeout=60
    )


def isolate(*extra: str) -> list[str]:
    return [
        "--task",
        "isolateHost",
        "--targetHost",
        HOST,
        "--params",
        '{"action": 1}',
        "--justification",
        "KUMA: ransomware beacon from PAYROLL-01",
        *extra,
    ]


@pytest.fixture
def portal(live_server, alice) -> dict[str, str]:
    return {"PORTAL_URL": live_server.url, "PORTAL_TOKEN": issue_token(alice)[1]}


def test_it_files_the_request_and_prints_its_id_and_status(portal):
    result = run(*isolate("--external-ref", "KUMA-4711"), env=portal)
    assert result.returncode == 0, result.stderr
    request = ResponseRequest.objects.get()
    assert result.stdout == f"{request.uuid} pending_approval\n"
    assert (request.source, request.external_ref, request.requester_username) == (Source.API, "KUMA-4711", "alice")
    assert request.status == Status.PENDING_APPROVAL  # through the approvals, not straight to KSC


def test_the_same_alert_twice_files_once(portal):
    first = run(*isolate("--external-ref", "KUMA-4711"), env=portal)
    again = run(*isolate("--external-ref", "KUMA-4711"), env=portal)
    assert again.returncode == 0 and again.stdout == first.stdout
    assert ResponseRequest.objects.count() == 1
    # Another alert, another host: the same host's isolation is in flight (one at a time, responses/isolation.py).
    other_host = "1f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"
    other_alert = run(*[other_host if arg == HOST else arg for arg in isolate("--external-ref", "KUMA-4712")], env=portal)
    assert other_alert.returncode == 0 and other_alert.stdout != first.stdout
    assert ResponseRequest.objects.count() == 2


def test_it_reads_the_token_from_a_file(portal, tmp_path):
    token_file = tmp_path / "portal-token"
    token_file.write_text(portal["PORTAL_TOKEN"] + "\n")
    result = run(*isolate(), env={"PORTAL_URL": portal["PORTAL_URL"], "PORTAL_TOKEN_FILE": str(token_file)})
    assert result.returncode == 0, result.stderr
    assert ResponseRequest.objects.count() == 1


def test_refused_params_exit_2_with_the_portals_message(portal):
    result = run(
        "--task", "deleteFile", "--targetHost", HOST, "--params", '{"md5hash": "nope"}', "--justification", "x",
        env=portal,
    )  # fmt: skip
    assert result.returncode == 2
    assert "the portal answered 400" in result.stderr
    assert "params.md5hash: md5hash must be an MD5 hash" in result.stderr
    assert result.stdout == ""
    assert ResponseRequest.objects.count() == 0


def test_params_that_are_not_json_are_refused_before_calling(portal):
    result = run("--task", "isolateHost", "--targetHost", HOST, "--params", "{action: 1}", "--justification", "x",
                 env=portal)  # fmt: skip
    assert result.returncode == 2
    assert "--params is not valid JSON" in result.stderr
    assert ResponseRequest.objects.count() == 0


def test_a_bad_token_exits_3(portal):
    result = run(*isolate(), env={**portal, "PORTAL_TOKEN": "edr_not-a-token"})
    assert result.returncode == 3
    assert "the portal answered 401: Invalid token." in result.stderr
    assert ResponseRequest.objects.count() == 0


def test_a_user_who_may_not_file_exits_3(live_server, mallory):
    result = run(*isolate(), env={"PORTAL_URL": live_server.url, "PORTAL_TOKEN": issue_token(mallory)[1]})
    assert result.returncode == 3
    assert "Only members of Analysts can file response requests." in result.stderr


def test_over_the_filing_rate_limit_exits_4_saying_when(portal, settings):
    settings.REQUEST_RATE_LIMIT = 1  # the live server runs in this process: it sees this setting
    assert run(*isolate("--external-ref", "KUMA-1"), env=portal).returncode == 0
    result = run(*isolate("--external-ref", "KUMA-2"), env=portal)
    assert result.returncode == 4
    assert "the portal answered 429" in result.stderr and "try again in" in result.stderr
    assert ResponseRequest.objects.count() == 1


def test_an_unreachable_portal_exits_4(db):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run(*isolate("--retries", "0"), env={"PORTAL_URL": f"http://127.0.0.1:{port}", "PORTAL_TOKEN": "edr_x"})
    assert result.returncode == 4
    assert "cannot reach the portal" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "Set PORTAL_URL"),
        ({"PORTAL_URL": "http://edr.example.com", "PORTAL_TOKEN": "edr_x"}, "must use https://"),
        ({"PORTAL_URL": "https://edr.example.com"}, "Set PORTAL_TOKEN"),
        ({"PORTAL_URL": "https://edr.example.com", "PORTAL_TOKEN": "a", "PORTAL_TOKEN_FILE": "/x"}, "not both"),
    ],
)
def test_bad_configuration_exits_2_saying_what_to_set(db, env, message):
    result = run(*isolate(), env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "edr_x" not in result.stderr  # the token is never printed


def test_missing_arguments_exit_2(db):
    result = run("--task", "isolateHost", env={"PORTAL_URL": "https://edr.example.com", "PORTAL_TOKEN": "edr_x"})
    assert result.returncode == 2
    assert "--targetHost" in result.stderr
