"""The "New response" page: task chooser, the catalog-built form, the preview, and filing."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import re
import time
import zipfile
from unittest import mock

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile

from ksc_client import wire
from responses import catalog, forms, payload
from responses.models import EventKind, ResponseRequest, Status
from tests.support.filing import file_request
from tests.support.openioc import ioc_zip_bytes, openioc
from tests.support.pages import NEW, ioc_data

HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"
MD5 = "0123456789abcdef0123456789abcdef"


def ioc_zip() -> bytes:
    return ioc_zip_bytes()


def isolate(**extra) -> dict:
    return {
        "task": "isolateHost",
        "target_host": HOST,
        "target_host_name": "TKY-WS-0142",
        "params-action": "1",
        "justification": "Beaconing to a known C2 address",
        **extra,
    }


def preview_of(client, data: dict, **kwargs):
    response = client.post(NEW, data, **kwargs)
    assert response.status_code == 200, response.content.decode()[-2000:]
    return response


@pytest.fixture
def analyst(client, login, alice):
    login(client, alice)
    return client


def test_it_lists_every_task_with_what_it_does_and_whether_it_needs_approval(analyst):
    response = analyst.get(NEW)

    page = response.content.decode()
    for task in catalog.TASKS.values():
        assert f'value="{task.name}"' in page
        assert str(task.summary) in page
    assert "No approval needed" in page  # getFile, onDemandScan
    assert "Needs approval by 1 other person" in page  # isolateHost and the other destructive ones
    assert "Needs approval when any of these is chosen: Isolate host on detection, Remove detected objects" in page


@pytest.mark.parametrize("task_name", catalog.TASK_NAMES)
def test_it_builds_each_tasks_form_from_the_catalog(analyst, task_name):
    response = analyst.get(NEW, {"task": task_name})

    assert response.status_code == 200
    page = response.content.decode()
    task = catalog.TASKS[task_name]
    prefix = forms.SCAN_PREFIX + "-0" if task.list_params else forms.PARAMS_PREFIX
    for spec in task.fields:
        name = f"{prefix}-{spec.name}"
        widget = {
            catalog.BOOL: f'<input type="checkbox" name="{name}"',
            # A choice in a scan row is a select; alone (isolate / end isolation), plain radio buttons.
            catalog.CHOICE: f'<select name="{name}"' if task.list_params else f'<input type="radio" name="{name}"',
            catalog.IOC_ZIP: f'<input type="file" name="{name}"',
        }.get(spec.kind, f'<input type="text" name="{name}"')
        assert widget in page, name
        assert str(spec.label) in page
    assert 'name="justification"' in page and 'name="external_ref"' in page


def test_it_previews_exactly_what_will_be_sent_without_filing(analyst):
    response = preview_of(analyst, isolate())

    assert ResponseRequest.objects.count() == 0
    shown = json.loads(response.context["preview"].add_incident)
    expected = wire.encode_params(
        payload.add_incident_data("isolateHost", HOST, {"action": 1}, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    )
    # KLINCDT_ADDED is the only value that depends on when it is sent.
    assert shown["pData"].pop("KLINCDT_ADDED")["type"] == "datetime"
    expected.pop("KLINCDT_ADDED")
    assert shown["pData"] == expected
    page = response.content.decode()
    assert "Isolate the host from the network" in page
    assert "Needs approval by 1 approver other than you" in page


def test_it_files_the_previewed_request_and_shows_it(analyst, alice, ksc_settings):
    host_id = ksc_settings.host_id("TKY-WS-0111")
    sealed = preview_of(analyst, isolate(target_host=host_id, external_ref="INC-42")).context["sealed"]

    response = analyst.post(NEW, {"step": "file", "sealed": sealed})

    filed = ResponseRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/requests/{filed.uuid}/"
    assert (filed.task, filed.target_host, filed.target_host_name, filed.params) == (
        "isolateHost",
        host_id,
        "TKY-WS-0111",
        {"action": 1},
    )
    assert (filed.requester, filed.external_ref, filed.source) == (alice, "INC-42", "web")
    assert filed.status == Status.PENDING_APPROVAL
    assert list(filed.events.values_list("kind", flat=True)) == [EventKind.FILED]
    # The message names the request (issue 17, point 9).
    assert "Request filed: Network isolation on TKY-WS-0111. It now waits for approval." in analyst.get(
        response["Location"]
    ).content.decode()


def test_it_names_the_host_as_ksc_does_whatever_the_browser_sent(analyst, ksc_settings):
    host_id = ksc_settings.host_id("SRV-SQL-01")

    response = preview_of(analyst, isolate(target_host=host_id, target_host_name="harmless-test-vm"))

    # Approvers read this name beside the id: it is KSC's, never the analyst's.
    assert response.context["filing"].target_host_name == "SRV-SQL-01"
    page = response.content.decode()
    assert "harmless-test-vm" not in page
    assert "srv-sql-01.corp.example.co.jp" in page and "Servers" in page


def test_it_refuses_a_host_id_that_ksc_does_not_know(analyst, ksc_settings):
    response = analyst.post(NEW, isolate(target_host="no-such-host-id"))

    assert response.status_code == 400
    assert "KSC knows no host with this id." in response.context["form"].common.errors["target_host"][0]


def test_a_display_name_in_the_id_field_is_offered_back_not_swapped_in(analyst, ksc_settings):
    response = analyst.post(NEW, isolate(target_host="tky-ws-0105"))

    # Offered (any case), never previewed or filed under the host it resembles.
    assert response.status_code == 400
    assert "Did you mean it?" in response.context["form"].common.errors["target_host"][0]
    assert response.context["host_suggestion"]["host"].id == ksc_settings.host_id("TKY-WS-0105")
    assert "sealed" not in response.content.decode()
    # Part of a name is not a name: no offer, the plain error.
    response = analyst.post(NEW, isolate(target_host="TKY-WS-010"))
    assert response.context["host_suggestion"] is None
    assert "KSC knows no host with this id." in response.context["form"].common.errors["target_host"][0]


def test_it_files_by_id_alone_when_ksc_cannot_check_the_host(analyst, settings):
    settings.KSC_HOST = None  # KSC unreachable or not configured: the analyst may still type the id

    response = preview_of(analyst, isolate(target_host_name="harmless-test-vm"))

    assert response.context["filing"].target_host_name == ""
    assert "The host id could not be checked with KSC" in response.content.decode()
    analyst.post(NEW, {"step": "file", "sealed": response.context["sealed"]})
    assert ResponseRequest.objects.get().target_host_name == ""


def test_it_sends_a_task_that_needs_no_approval_to_the_queue_at_once(
    analyst, ksc_queue, django_capture_on_commit_callbacks
):
    data = {
        "task": "getFile",
        "target_host": HOST,
        "params-path": r"C:\Users\Public\evil.exe",
        "justification": "Need a sample",
    }
    sealed = preview_of(analyst, data).context["sealed"]

    with django_capture_on_commit_callbacks(execute=True):
        analyst.post(NEW, {"step": "file", "sealed": sealed})

    filed = ResponseRequest.objects.get()
    assert filed.status == Status.QUEUED
    assert ksc_queue.job_ids == [str(filed.uuid)]


def test_it_files_a_double_clicked_preview_once(analyst):
    sealed = preview_of(analyst, isolate()).context["sealed"]

    first = analyst.post(NEW, {"step": "file", "sealed": sealed})
    second = analyst.post(NEW, {"step": "file", "sealed": sealed})

    # One request: a second identical click lands on the request the first one filed.
    assert ResponseRequest.objects.count() == 1
    assert second.status_code == 302 and second["Location"] == first["Location"]


def fetch(**extra) -> dict:
    """A task that changes no isolation: two of them may be open for one host (responses/isolation.py)."""
    return {
        "task": "getFile",
        "target_host": HOST,
        "target_host_name": "TKY-WS-0142",
        "params-md5hash": "D41D8CD98F00B204E9800998ECF8427E",
        "justification": "Sample for the sandbox",
        **extra,
    }


def test_it_files_the_same_request_again_from_a_new_preview(analyst):
    analyst.post(NEW, {"step": "file", "sealed": preview_of(analyst, fetch()).context["sealed"]})

    # The same task, host and params still pending: the preview says so and filing asks to confirm
    # (issue 17, point 6); confirmed, it is filed.
    again = preview_of(analyst, fetch())
    assert "alice filed the same request" in again.content.decode()
    refused = analyst.post(NEW, {"step": "file", "sealed": again.context["sealed"]})
    assert refused.status_code == 409 and ResponseRequest.objects.count() == 1
    analyst.post(NEW, {"step": "file", "sealed": again.context["sealed"], "confirm_duplicate": "1"})

    assert ResponseRequest.objects.count() == 2


def test_a_second_isolation_of_the_host_is_refused_with_a_link_to_the_first(analyst):
    """One isolation change in flight per host (issue 27.6 / 28.5), even when the analyst confirms."""
    analyst.post(NEW, {"step": "file", "sealed": preview_of(analyst, isolate()).context["sealed"]})
    first = ResponseRequest.objects.get()
    again = preview_of(analyst, isolate(isolation_end="24"))
    refused = analyst.post(NEW, {"step": "file", "sealed": again.context["sealed"], "confirm_duplicate": "1"})
    assert refused.status_code == 400 and ResponseRequest.objects.count() == 1
    assert f"/requests/{first.uuid}/" in refused.content.decode()


def test_an_isolations_end_is_previewed_and_filed(analyst):
    preview = preview_of(analyst, isolate(isolation_end="4"))
    assert "for 4 hours after it takes effect" in preview.content.decode()
    analyst.post(NEW, {"step": "file", "sealed": preview.context["sealed"]})
    assert ResponseRequest.objects.get().isolation_end == {"hours": 4}


def test_a_tokyo_analysts_until_0900_is_stored_in_utc(analyst):
    import datetime as dt

    from django.utils import timezone

    day = (timezone.now() + dt.timedelta(hours=30)).astimezone(dt.timezone(dt.timedelta(hours=9))).date()
    data = isolate(isolation_end="until", isolate_until_local=f"{day.isoformat()}T09:00", time_zone="Asia/Tokyo")
    preview = preview_of(analyst, data)
    assert f"{day.isoformat()} 09:00 Asia/Tokyo ({day.isoformat()} 00:00 UTC)" in preview.content.decode()
    analyst.post(NEW, {"step": "file", "sealed": preview.context["sealed"]})
    assert ResponseRequest.objects.get().isolation_end == {"until": f"{day.isoformat()}T00:00:00+00:00", "tz": "Asia/Tokyo"}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"isolation_end": "until", "isolate_until_local": ""}, "isolate_until_local", "Give the date and time"),
        ({"isolation_end": "until", "isolate_until_local": "2001-01-01T09:00"}, "isolate_until_local", "in the past"),
        ({"isolation_end": "released"}, "until_released_reason", "is required"),
        ({"isolation_end": "until", "isolate_until_local": "2030-01-01T09:00", "time_zone": "Mars/Olympus"}, "time_zone", "Unknown time zone"),
        ({"isolation_end": "99"}, "isolation_end", "Select a valid choice"),
    ],
)
def test_a_bad_end_is_put_next_to_its_field_and_nothing_is_filed(analyst, changes, field, words):
    response = analyst.post(NEW, isolate(**changes))
    assert response.status_code in (200, 400)
    assert words in str(response.context["form"].common.errors.get(field)), response.context["form"].common.errors
    assert not ResponseRequest.objects.exists()


def test_it_refuses_a_forged_or_someone_elses_preview(analyst, client, login, frank):
    sealed = preview_of(analyst, isolate()).context["sealed"]
    forged = signing.dumps({"user": 1, "task": "isolateHost"}, salt="another salt")

    assert analyst.post(NEW, {"step": "file", "sealed": forged}).status_code == 400
    login(client, frank)
    response = client.post(NEW, {"step": "file", "sealed": sealed})

    assert response.status_code == 400
    assert "This preview has expired or is not valid" in response.content.decode()
    assert ResponseRequest.objects.count() == 0


def test_it_refuses_a_preview_older_than_an_hour(analyst, alice):
    filing = forms.Filing("isolateHost", HOST, "", {"action": 1}, "why", "")
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 2 * 3600):
        stale = forms.seal(alice, filing)

    response = analyst.post(NEW, {"step": "file", "sealed": stale})

    assert response.status_code == 400
    assert ResponseRequest.objects.count() == 0


def test_it_goes_back_to_the_form_with_what_was_previewed(analyst):
    sealed = preview_of(analyst, isolate(external_ref="INC-7")).context["sealed"]

    response = analyst.post(NEW, {"step": "edit", "sealed": sealed})

    assert response.status_code == 200
    page = response.content.decode()
    assert f'value="{HOST}"' in page and 'value="INC-7"' in page
    assert re.search(r'<input type="radio" name="params-action" value="1"[^>]* checked', page)
    assert "Beaconing to a known C2 address</textarea>" in page


def test_it_puts_catalog_errors_next_to_their_fields(analyst):
    data = {"task": "deleteFile", "target_host": HOST, "params-md5hash": "not-a-hash", "justification": "x"}

    response = analyst.post(NEW, data)

    assert response.status_code == 400
    page = response.content.decode()
    # The message sits in the field's error list, which the input points at for screen readers.
    assert 'id="id_params-md5hash_error"' in page
    assert "“MD5 hash” must be an MD5 hash" in page  # the label, not the internal name
    assert 'aria-describedby="id_params-md5hash_helptext id_params-md5hash_error"' in page
    assert 'aria-invalid="true"' in page
    assert ResponseRequest.objects.count() == 0


def test_it_says_when_a_file_task_names_no_file(analyst):
    response = analyst.post(NEW, {"task": "quarantineFile", "target_host": HOST, "justification": "x"})

    assert response.status_code == 400
    assert "Name the file by at least one of “MD5 hash”, “SHA-256 hash” or “File path”." in response.content.decode()


def test_it_requires_a_host_and_a_justification(analyst):
    response = analyst.post(NEW, {"task": "isolateHost", "params-action": "1"})

    assert response.status_code == 400
    assert set(response.context["form"].common.errors) == {"target_host", "justification"}


def test_it_asks_which_way_to_isolate_instead_of_assuming(analyst):
    response = analyst.post(NEW, isolate(**{"params-action": ""}))

    assert response.status_code == 400
    assert "action" in response.context["form"].params.errors


def scan_form(*rows: tuple[int, dict]) -> dict:
    """The form of an onDemandScan of HOST, its scan objects in the numbered rows given (the others empty)."""
    data = {
        "task": "onDemandScan",
        "target_host": HOST,
        "justification": "Routine check",
        "scan-TOTAL_FORMS": str(catalog.MAX_SCAN_OBJECTS),
        "scan-INITIAL_FORMS": "0",
        "scan-MIN_NUM_FORMS": "0",
        "scan-MAX_NUM_FORMS": str(catalog.MAX_SCAN_OBJECTS),
    }
    for index, row in rows:
        for key, value in row.items():
            data[f"scan-{index}-{key}"] = value
    return data


def test_it_collects_scan_objects_from_rows_and_ignores_empty_rows(analyst):
    data = scan_form(
        (0, {"enabled": "on", "type": "14"}),
        (3, {"enabled": "on", "type": "22", "path": r"C:\Temp", "recursive": "on"}),
    )

    response = preview_of(analyst, data)

    assert response.context["filing"].params == [
        {"enabled": True, "path": "", "recursive": False, "type": 14},
        {"enabled": True, "path": r"C:\Temp", "recursive": True, "type": 22},
    ]


def test_it_puts_a_scan_object_error_on_its_row(analyst):
    data = scan_form(
        (0, {"enabled": "on", "type": "14"}),
        (4, {"enabled": "on", "type": "22"}),
        (5, {"type": "25"}),  # a type, Enabled unticked: a slip, not a disabled object to send
    )

    response = analyst.post(NEW, data)

    assert response.status_code == 400
    rows = response.context["form"].params.forms
    # Both errors at once, each on its row, in the page's words.
    assert "“Path” is required when the scan object is a “Folder”." in rows[4].errors["path"]
    assert "Tick “Enabled” to scan this object, or clear the row." in rows[5].errors["enabled"]
    assert not rows[0].errors
    assert ResponseRequest.objects.count() == 0


def test_it_refuses_a_scan_with_no_object(analyst):
    response = analyst.post(NEW, scan_form())

    assert response.status_code == 400
    assert "Give at least one scan object." in response.content.decode()


def test_it_encodes_an_uploaded_ioc_archive_for_ksc(analyst):
    archive = ioc_zip()

    response = preview_of(analyst, {**ioc_data(), "params-ioc": SimpleUploadedFile("iocs.zip", archive)})

    params = response.context["filing"].params
    assert base64.b64decode(params["ioc"]) == archive
    assert params == {"ioc": params["ioc"], "isolateHost": False, "scanCriticalAreas": True, "quarantineObject": False}
    assert response.context["preview"].approvals_required == 0


def test_it_keeps_an_uploaded_archive_when_another_field_is_wrong(analyst):
    archive = ioc_zip()

    response = analyst.post(NEW, {**ioc_data(justification=""), "params-ioc": SimpleUploadedFile("iocs.zip", archive)})

    assert response.status_code == 400
    carried = base64.b64encode(archive).decode()
    # Kept server-side; the page carries its digest and size (issue 23, point 16), not the base64.
    reference = f"stored:{hashlib.sha256(archive).hexdigest()}:{len(archive)}"
    assert f'value="{reference}"' in response.content.decode()
    assert carried not in response.content.decode()
    assert "An archive is attached" in response.content.decode()
    # Sent again with the carried archive and no new upload, it is accepted.
    again = preview_of(analyst, {**ioc_data(), "params-ioc__carried": reference})
    assert again.context["filing"].params["ioc"] == carried


def test_it_refuses_an_ioc_file_that_is_not_a_zip(analyst):
    response = analyst.post(NEW, {**ioc_data(), "params-ioc": SimpleUploadedFile("iocs.zip", b"not a zip")})

    assert response.status_code == 400
    assert "“IOC archive” is not a readable ZIP archive." in response.context["form"].params.errors["ioc"]
    # A refused archive is not carried to the next preview as if attached.
    assert "An archive is attached" not in response.content.decode()


def test_it_requires_the_ioc_archive(analyst):
    response = analyst.post(NEW, ioc_data())

    assert response.status_code == 400
    assert "“IOC archive” is required." in response.context["form"].params.errors["ioc"]


def test_it_reports_what_the_workflow_refuses_at_filing_next_to_the_field(analyst, alice):
    # A bell character passes the form (it is no null byte) but not the workflow's text rules.
    filing = forms.Filing("isolateHost", HOST, "", {"action": 1}, "ring \x07 the bell", "")

    response = analyst.post(NEW, {"step": "file", "sealed": forms.seal(alice, filing)})

    assert response.status_code == 400
    assert (
        "justification must not contain control characters." in response.context["form"].common.errors["justification"]
    )
    assert ResponseRequest.objects.count() == 0


def test_it_prefills_the_form_from_a_link(analyst):
    response = analyst.get(
        NEW,
        {"task": "isolateHost", "target_host": HOST, "target_host_name": "TKY-WS-0142", "params-action": "0"},
    )

    page = response.content.decode()
    assert f'value="{HOST}"' in page
    assert "Chosen host: TKY-WS-0142" in page
    assert re.search(r'<input type="radio" name="params-action" value="0"[^>]* checked', page)


def test_it_refuses_an_archive_over_10_mib_before_reading_it(analyst, monkeypatch):
    monkeypatch.setattr(catalog, "MAX_IOC_ZIP_BYTES", 100)

    response = analyst.post(NEW, {**ioc_data(), "params-ioc": SimpleUploadedFile("iocs.zip", ioc_zip() + b"x" * 200)})

    assert response.status_code == 400
    assert "The archive is larger than 10 MiB." in response.context["form"].params.errors["ioc"]


def test_a_large_archive_is_shown_once_as_its_digest_and_sent_whole(analyst):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        # A valid OpenIOC document whose description is 80 KiB of incompressible text.
        archive.writestr("big.ioc", openioc(description=base64.b64encode(os.urandom(60 * 1024)).decode()))
    big = buffer.getvalue()

    response = preview_of(analyst, {**ioc_data(), "params-ioc": SimpleUploadedFile("iocs.zip", big)})

    shown = response.context["preview"]
    page = response.content.decode()
    # Issue 17, point 4: never twice as base64 (it filled the page), once as size and SHA-256.
    assert base64.b64encode(big).decode() not in page
    assert shown.add_incident_hidden == 0 and shown.envelope_hidden == 0
    assert hashlib.sha256(big).hexdigest() in page and f"({len(big)} bytes)" in page
    # What is filed is the whole archive.
    assert base64.b64decode(response.context["filing"].params["ioc"]) == big


def test_the_request_page_shows_an_archive_by_size_and_digest(analyst, alice):

    archive = ioc_zip()
    filed = file_request(
        user=alice,
        task="iocScan",
        target_host=HOST,
        params={
            "ioc": base64.b64encode(archive).decode(),
            "isolateHost": False,
            "scanCriticalAreas": True,
            "quarantineObject": False,
        },
        justification="hunt",
    )

    html = analyst.get(f"/requests/{filed.uuid}/").content.decode()

    assert f"SHA-256 {hashlib.sha256(archive).hexdigest()}" in html
    assert base64.b64encode(archive).decode() not in html


def test_it_says_when_the_filing_rate_limit_is_reached(analyst, settings):
    settings.REQUEST_RATE_LIMIT = 1
    # Two different requests previewed before either is filed (the same twice would be a double click).
    first, second = (preview_of(analyst, isolate(justification=why)).context["sealed"] for why in ("one", "two"))
    analyst.post(NEW, {"step": "file", "sealed": first})

    response = analyst.post(NEW, {"step": "file", "sealed": second})

    assert response.status_code == 429
    assert "REQUEST_RATE_LIMIT" in response.content.decode()
    assert ResponseRequest.objects.count() == 1
    # A new preview is refused as well, before its form (and any IOC archive) is looked at.
    assert analyst.post(NEW, isolate()).status_code == 429
