"""Schemathesis over the API's own OpenAPI schema: no 5xx, and every answer as the schema says.

The schema is loaded from the running app (GET /api/v1/schema/) and every
operation is called in-process through Django's WSGI handler, with valid and
invalid data (schemathesis' positive and negative modes), as an analyst and as
an approver. A request id in a path is sometimes swapped for one that exists,
so that approvals, cancellations and retries are reached and not only 404s.

Bounded: MAX_EXAMPLES per operation and persona, derandomized so that a run is
repeatable; the whole module takes seconds. Each test runs in one database
transaction like any other test (Django's request signals are held off, as
Django's own test client does, so that the in-process calls share it).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.tokens import issue_token
from tests.fixtures.api import failed, file

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@contextlib.contextmanager
def in_process_requests() -> Iterator[None]:
    """Let WSGI calls run inside the test's transaction (what django.test.Client does too)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, alice, frank, bob, carol, ksc_settings):
    """Requests in several states, a token for each persona under test, and KSC (simulated) for host search."""
    with in_process_requests():
        ids = [
            str(file(alice).uuid),  # alice may cancel it, bob may approve or reject it
            str(file(frank).uuid),
            str(file(alice, "getFile", {"path": "C:\\evidence.bin"}).uuid),  # approved at once
            str(failed(frank, carol).uuid),  # bob may retry it
        ]
        yield {
            "ids": ids,
            "tokens": {"alice": issue_token(alice)[1], "bob": issue_token(bob)[1]},
        }


def _load() -> schemathesis.BaseSchema:
    # The schema the view at /api/v1/schema/ serves (test_the_served_schema_is_the_one_tested
    # checks that), generated here because collection happens before any database exists.
    # (schemathesis.pytest.from_fixture, which could fetch it, does not run on pytest 9.2.)
    loaded = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
    loaded.app = WSGIHandler()
    return loaded


schema = _load()


def _call(case, world: dict, persona: str) -> None:
    # Half the time, aim at a request that exists (chosen by the generated id, so the run stays repeatable).
    if "id" in (case.path_parameters or {}):
        generated = str(case.path_parameters["id"])
        digest = uuid.uuid5(uuid.NAMESPACE_URL, generated).int
        if digest % 2 == 0:
            case.path_parameters["id"] = world["ids"][digest // 2 % len(world["ids"])]
    case.call_and_validate(headers={"Authorization": f"Token {world['tokens'][persona]}"}, checks=CHECKS)


@schema.parametrize()
@BOUNDED
def test_it_keeps_its_schema_for_an_analyst(case, world):
    _call(case, world, "alice")


# Filing is the analyst's: as an approver it is a 403 whatever the body (the matrix shows that).
@schema.exclude(method="POST", path="/api/v1/requests/").parametrize()
@BOUNDED
def test_it_keeps_its_schema_for_an_approver(case, world):
    _call(case, world, "bob")


def test_the_served_schema_is_the_one_tested(client, login, alice):
    login(client, alice)
    served = client.get("/api/v1/schema/?format=json").json()
    assert served == json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))
