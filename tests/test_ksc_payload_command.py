"""`manage.py ksc_payload`: what operators run to see exactly what would reach KSC."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from responses import catalog
from responses.forms.new_request import Filing
from responses.forms.previews import _archives, _display, preview
from tests.support.catalog_cases import REFUSED, VALID
from tests.support.golden_payloads import GOLDEN, HOST


def _run(task: str, params, host: str = HOST, *extra: str) -> dict:
    out = io.StringIO()
    call_command("ksc_payload", "--task", task, "--host", host, "--params", json.dumps(params), *extra, stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize(("task", "params", "body"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_it_prints_the_add_incident_pdata_for_every_task(task, params, body):
    printed = _run(task, params, HOST, "--added", "2026-11-27T08:30:05Z")
    assert printed == {
        "KLINCDT_SEVERITY": 2,
        "KLINCDT_ADDED": {"type": "datetime", "value": "2026-11-27T08:30:05Z"},
        "KLINCDT_BODY": body,
        "KLHST_WKS_HOSTNAME": HOST,
    }


def test_it_stamps_the_current_utc_time_by_default():
    printed = _run("isolateHost", {"action": 1})
    assert printed["KLINCDT_ADDED"]["type"] == "datetime"
    assert printed["KLINCDT_ADDED"]["value"].endswith("Z") and len(printed["KLINCDT_ADDED"]["value"]) == 20


def test_it_can_print_the_update_too():
    printed = _run("isolateHost", {"action": 0}, HOST, "--update")
    assert printed["UpdateIncident"]["pData"] == {"KLINCDT_IS_HANDLED": False, "KLHST_WKS_HOSTNAME": HOST}


@pytest.mark.parametrize(("task", "params", "field", "fragment"), REFUSED[::4])
def test_it_refuses_bad_params_with_exit_2(task, params, field, fragment):
    with pytest.raises(CommandError) as refused:
        _run(task, params)
    assert refused.value.returncode == 2
    assert fragment in str(refused.value)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--task", "isolateHost", "--host", HOST, "--params", "{action: 1}"], "--params is not valid JSON"),
        (["--task", "wipe", "--host", HOST, "--params", "{}"], "--task: Unknown task type"),
        (["--task", "isolateHost", "--host", "", "--params", '{"action": 1}'], "--host: target host is required"),
        (["--task", "isolateHost", "--host", HOST, "--params", '{"action": 1}', "--added", "yesterday"], "--added"),
    ],
)
def test_it_refuses_bad_arguments_with_exit_2(args, fragment):
    with pytest.raises(CommandError) as refused:
        call_command("ksc_payload", *args, stdout=io.StringIO())
    assert refused.value.returncode == 2
    assert fragment in str(refused.value)


def test_all_valid_examples_pass():
    for task, params in VALID.items():
        assert _run(task, params)["KLHST_WKS_HOSTNAME"] == HOST


@pytest.mark.parametrize(("task", "params", "body"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_the_command_and_the_filing_preview_show_the_same_calls(task, params, body):
    # One function (payload.calls_json) builds "the calls as JSON" for both: they cannot drift apart.
    added = dt.datetime(2026, 11, 27, 8, 30, 5, tzinfo=dt.UTC)
    printed = _run(task, params, HOST, "--added", "2026-11-27T08:30:05Z", "--update")
    filing = Filing(task, HOST, "DC01", catalog.clean_params(task, params), "why", "")
    shown = preview(filing, now=added)

    assert printed["AddIncident"]["pData"]["KLINCDT_BODY"] == body
    if not shown.add_incident_hidden:
        # The preview shows an IOC archive once, by size and sha256, and a placeholder for its base64.
        as_shown = _display(json.dumps(printed["AddIncident"], indent=2, ensure_ascii=False), shown_archives(filing))
        assert shown.add_incident == as_shown[0]
    assert json.loads(shown.update_incident) == printed["UpdateIncident"]


def shown_archives(filing: Filing) -> list:
    return _archives(catalog.TASKS[filing.task], filing.params)
