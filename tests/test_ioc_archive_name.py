"""Issue 17, point 4: an IOC archive is shown once, as its file name, size and SHA-256, never as base64.

The uploaded file's name (base name only, no control or invisible characters, capped, escaped when
shown) travels with the archive: across a redisplay of the form, in the sealed preview (edit and file),
and with the filed request. It is never sent to KSC and is not part of the fingerprint. A request from
the REST API has no name: its page shows size and SHA-256 only.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from responses import catalog, forms
from responses.errors import InvalidRequest
from responses.models import ResponseRequest, payload_fingerprint
from tests.fixtures.api import REQUESTS
from tests.support.filing import file_request
from tests.support.openioc import ioc_zip_bytes, openioc

NEW = "/requests/new/"
NAME = "campaign-2024-q3.zip"


def ioc_form(**extra) -> dict:
    return {
        "task": "iocScan",
        "justification": "Hunt for the campaign's IOCs",
        "params-scanCriticalAreas": "on",
        **extra,
    }


def upload(archive: bytes, name: str = NAME) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, archive, content_type="application/zip")


@pytest.fixture
def host_id(ksc_settings) -> str:
    return ksc_settings.host_id("TKY-WS-0105")


@pytest.fixture
def analyst(client, login, alice):
    return login(client, alice)


def preview_of(analyst, data: dict):
    response = analyst.post(NEW, data)
    assert response.status_code == 200, response.content.decode()[-3000:]
    return response


def archive_cell(page: str) -> str:
    """What the request page's parameter table shows for the archive."""
    found = re.search(r'<td class="ioc-archive">(.*?)</td>', page, re.S)
    assert found is not None, page
    return found.group(1)


def shown_once(page: str, archive: bytes, name: str) -> None:
    """The archive on a page: its name, size and digest, once each; its base64 nowhere."""
    assert page.count(html.escape(name, quote=False)) == 1, page
    assert page.count(hashlib.sha256(archive).hexdigest()) == 1
    assert base64.b64encode(archive).decode() not in page


def test_the_preview_shows_the_archive_once_as_name_size_and_digest(analyst, host_id):
    archive = ioc_zip_bytes()

    response = preview_of(analyst, ioc_form(target_host=host_id, **{"params-ioc": upload(archive)}))

    page = response.content.decode()
    (item,) = response.context["preview"].archives
    assert (item["file_name"], item["size"], item["sha256"]) == (NAME, len(archive), hashlib.sha256(archive).hexdigest())
    facts = re.search(r'<dd class="ioc-archive">(.*?)</dd>', page, re.S).group(1)
    assert NAME in facts and f"({len(archive)} bytes)" in facts and hashlib.sha256(archive).hexdigest() in facts
    shown_once(page, archive, NAME)
    # The raw KSC calls are folded away, and the name is in none of them: KSC never gets it.
    assert re.search(r'<details class="raw-calls" id="raw-calls">', page)
    preview = response.context["preview"]
    assert all(NAME not in text for text in (preview.add_incident, preview.envelope, preview.update_incident))


def test_a_redisplay_after_an_error_keeps_the_name_beside_the_archive(analyst, host_id):
    archive = ioc_zip_bytes()

    response = analyst.post(NEW, ioc_form(target_host=host_id, justification="", **{"params-ioc": upload(archive)}))

    assert response.status_code == 400
    page = response.content.decode()
    assert f'name="params-ioc__carried_name" value="{NAME}"' in page
    assert f"An archive is attached: {NAME} (" in page
    carried = base64.b64encode(archive).decode()
    again = preview_of(
        analyst,
        ioc_form(target_host=host_id, **{"params-ioc__carried": carried, "params-ioc__carried_name": NAME}),
    )
    assert again.context["filing"].archive_names == {"ioc": NAME}
    shown_once(again.content.decode(), archive, NAME)


def test_a_new_upload_replaces_the_carried_archive_and_its_name(analyst, host_id):
    old = base64.b64encode(ioc_zip_bytes()).decode()
    archive = ioc_zip_bytes({"other.ioc": openioc(ioc_id="6d2a1b2c-0000-4000-8000-000000000002")})

    response = preview_of(
        analyst,
        ioc_form(
            target_host=host_id,
            **{"params-ioc__carried": old, "params-ioc__carried_name": "old.zip", "params-ioc": upload(archive, "new.zip")},
        ),
    )

    assert response.context["filing"].archive_names == {"ioc": "new.zip"}
    assert base64.b64decode(response.context["filing"].params["ioc"]) == archive


def test_change_it_and_preview_again_keeps_the_name(analyst, host_id):
    archive = ioc_zip_bytes()
    sealed = preview_of(analyst, ioc_form(target_host=host_id, **{"params-ioc": upload(archive)})).context["sealed"]

    edit = analyst.post(NEW, {"step": "edit", "sealed": sealed})

    assert edit.status_code == 200
    page = edit.content.decode()
    assert f'name="params-ioc__carried_name" value="{NAME}"' in page
    assert f"An archive is attached: {NAME} (" in page
    carried = edit.context["form"].params.initial["ioc__carried"]
    again = preview_of(
        analyst,
        ioc_form(target_host=host_id, **{"params-ioc__carried": carried, "params-ioc__carried_name": NAME}),
    )
    shown_once(again.content.decode(), archive, NAME)


def test_the_filed_request_keeps_the_name_and_its_page_shows_it_once(analyst, alice, host_id):
    archive = ioc_zip_bytes()
    sealed = preview_of(analyst, ioc_form(target_host=host_id, **{"params-ioc": upload(archive)})).context["sealed"]

    response = analyst.post(NEW, {"step": "file", "sealed": sealed})

    filed = ResponseRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/requests/{filed.uuid}/"
    assert filed.archive_names == {"ioc": NAME}
    # The name is no part of the content: params and fingerprint are the archive's alone.
    assert set(filed.params) == {"ioc", "isolateHost", "scanCriticalAreas", "quarantineObject"}
    assert NAME not in json.dumps(filed.params)
    assert filed.fingerprint == payload_fingerprint("iocScan", host_id, filed.params)
    page = analyst.get(response["Location"]).content.decode()
    shown = archive_cell(page)
    assert f'<strong class="archive-name">{NAME}</strong>' in shown
    assert f"({len(archive)} bytes)" in shown and f"SHA-256 {hashlib.sha256(archive).hexdigest()}" in shown
    shown_once(page, archive, NAME)


def test_the_same_archive_under_another_name_is_the_same_request(analyst, alice, frank, host_id, login, client):
    """What is approved is the content: a second upload of it under another name is flagged as the same."""
    archive = ioc_zip_bytes()
    sealed = preview_of(analyst, ioc_form(target_host=host_id, **{"params-ioc": upload(archive)})).context["sealed"]
    analyst.post(NEW, {"step": "file", "sealed": sealed})

    other = login(client.__class__(), frank)
    response = preview_of(other, ioc_form(target_host=host_id, **{"params-ioc": upload(archive, "renamed.zip")}))

    assert "alice filed the same request" in response.content.decode()


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("../../etc/passwd.zip", "passwd.zip"),
        ("C:\\Users\\alice\\Desktop\\iocs.zip", "iocs.zip"),
        ("<script>alert(1)</script>.zip", "script>.zip"),  # a slash is a folder, whatever surrounds it
        ("\u202egpj.zip", "gpj.zip"),  # a right-to-left override would make it read "piz.jpg"
    ],
)
def test_a_carried_name_is_kept_as_its_base_name_without_hidden_characters(analyst, host_id, raw, kept):
    """The carried name is the browser's word like the upload's: it is cleaned the same way when it comes back."""
    archive = ioc_zip_bytes()

    response = preview_of(
        analyst,
        ioc_form(
            target_host=host_id,
            **{"params-ioc__carried": base64.b64encode(archive).decode(), "params-ioc__carried_name": raw},
        ),
    )

    assert response.context["filing"].archive_names == {"ioc": kept}
    analyst.post(NEW, {"step": "file", "sealed": response.context["sealed"]})
    assert ResponseRequest.objects.get().archive_names == {"ioc": kept}


@pytest.mark.parametrize("name", ["<script>alert(1)<script>.zip", "<img src=x onerror=alert(1)>.zip"])
def test_a_name_with_markup_is_escaped_on_the_form_the_preview_and_the_request_page(analyst, host_id, name):
    archive = ioc_zip_bytes()
    escaped = html.escape(name)
    markup = name[: name.index(")") + 1]  # "<script>alert(1)", "<img src=x onerror=alert(1)"

    refused = analyst.post(NEW, ioc_form(target_host=host_id, justification="", **{"params-ioc": upload(archive, name)}))
    response = preview_of(analyst, ioc_form(target_host=host_id, **{"params-ioc": upload(archive, name)}))
    analyst.post(NEW, {"step": "file", "sealed": response.context["sealed"]})
    filed = ResponseRequest.objects.get()
    detail = analyst.get(f"/requests/{filed.uuid}/").content.decode()

    assert filed.archive_names == {"ioc": name}  # kept as typed; escaped wherever it is shown
    for page in (refused.content.decode(), response.content.decode(), detail):
        assert markup not in page
        assert escaped in page


def test_control_characters_are_removed_from_a_carried_name(analyst, host_id):
    archive = base64.b64encode(ioc_zip_bytes()).decode()

    response = preview_of(
        analyst,
        ioc_form(target_host=host_id, **{"params-ioc__carried": archive, "params-ioc__carried_name": "ev\x07il\r\n\x1b[31m.zip"}),
    )

    assert response.context["filing"].archive_names == {"ioc": "evil[31m.zip"}


def test_a_very_long_name_is_cut_and_keeps_its_extension(analyst, host_id):
    archive = ioc_zip_bytes()

    response = preview_of(analyst, ioc_form(target_host=host_id, **{"params-ioc": upload(archive, "a" * 200 + ".zip")}))

    name = response.context["filing"].archive_names["ioc"]
    assert name == "a" * (catalog.MAX_ARCHIVE_NAME - 5) + "….zip"
    assert len(name) == catalog.MAX_ARCHIVE_NAME


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("iocs.zip", "iocs.zip"),
        ("dir/sub/iocs.zip", "iocs.zip"),
        ("dir\\iocs.zip", "iocs.zip"),
        ("..", ""),
        ("folder/", ""),
        ("\x00\x01", ""),
        ("  spaced name.zip  ", "spaced name.zip"),
        ("zero\u200bwidth.zip", "zerowidth.zip"),
        ("日本語のファイル.zip", "日本語のファイル.zip"),
        ("x" * 130, "x" * 119 + "…"),  # MAX_ARCHIVE_NAME is 120
        (None, ""),
        (42, ""),
    ],
)
def test_archive_file_name(raw, kept):
    assert catalog.MAX_ARCHIVE_NAME == 120
    assert catalog.archive_file_name(raw) == kept


def test_a_request_from_the_api_has_no_name_and_its_page_shows_size_and_digest(api, client, login, alice, host_id):
    archive = ioc_zip_bytes()
    params = {"ioc": base64.b64encode(archive).decode(), "isolateHost": False, "scanCriticalAreas": True, "quarantineObject": False}
    body = {"task": "iocScan", "target_host": host_id, "params": params, "justification": "SIEM rule 4411"}

    response = api(alice).post(REQUESTS, body, format="json")

    assert response.status_code == 201, response.content
    filed = ResponseRequest.objects.get()
    assert filed.archive_names == {}
    page = login(client, alice).get(f"/requests/{filed.uuid}/").content.decode()
    shown = archive_cell(page)
    assert f"({len(archive)} bytes)" in shown and f"SHA-256 {hashlib.sha256(archive).hexdigest()}" in shown
    assert "archive-name" not in shown  # no name invented
    assert base64.b64encode(archive).decode() not in page
    # Nor can an API client give one.
    refused = api(alice).post(REQUESTS, {**body, "archive_names": {"ioc": "x.zip"}}, format="json")
    assert refused.status_code == 400 and "archive_names" in refused.json()["errors"]


def test_the_workflow_refuses_a_name_for_an_archive_the_request_does_not_hold(alice):
    params = {"action": 1}

    with pytest.raises(InvalidRequest) as refused:
        file_request(
            user=alice, task="isolateHost", target_host="h-1", params=params, justification="j",
            archive_names={"action": "x.zip"},
        )

    assert list(refused.value.errors) == ["archive_names"]
    assert ResponseRequest.objects.count() == 0


def test_a_preview_sealed_before_names_were_kept_still_files(analyst, alice, host_id):
    archive = base64.b64encode(ioc_zip_bytes()).decode()
    filing = forms.Filing(
        "iocScan", host_id, "", {"ioc": archive, "isolateHost": False, "scanCriticalAreas": True, "quarantineObject": False},
        "hunt", "",
    )
    token = forms.seal(alice, filing)
    # What a preview sealed by the previous release held: no archive_names.
    from django.core import signing

    data = signing.loads(token, salt=forms.PREVIEW_SALT)
    data.pop("archive_names")
    old = signing.dumps(data, salt=forms.PREVIEW_SALT, compress=True)

    response = analyst.post(NEW, {"step": "file", "sealed": old})

    assert response.status_code == 302
    assert ResponseRequest.objects.get().archive_names == {}
