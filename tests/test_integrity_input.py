"""Input nobody can read, and IOC archives that cost more than they say (issue 12.5).

- Invisible characters (Unicode format characters such as bidi overrides and
  zero-width spaces, line and paragraph separators, blank fillers) are refused
  in params and host ids, with a message naming the field.
- What validation lets through (a no-break space in a path, a joiner in a
  justification) is drawn visibly on the approval pages.
- iocScan: the filing limit is checked before the archive is unpacked; more than
  1,000 entries is refused; lists (API, CSV) give the archive's size and SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from responses import catalog, workflow
from responses.models import ResponseRequest
from tests.fixtures.api import REQUESTS, body, url
from tests.support.filing import file_request
from tests.support.openioc import openioc
from tests.support.pages import NEW, ioc_data, read_csv

INVISIBLE = [
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE: "exe.txt" that reads "txt.exe"
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u200b",  # ZERO WIDTH SPACE
    "\u200d",  # ZERO WIDTH JOINER
    "\ufeff",  # ZERO WIDTH NO-BREAK SPACE (BOM)
    "\u00ad",  # SOFT HYPHEN
    "\u2028",  # LINE SEPARATOR
    "\u2029",  # PARAGRAPH SEPARATOR
    "\u3164",  # HANGUL FILLER
    "\u2800",  # BRAILLE PATTERN BLANK
]


def archive(entries: int) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for number in range(entries):
            # Real OpenIOC documents with ids of their own: only the count may be wrong.
            zipped.writestr(f"rule-{number}.ioc", openioc(ioc_id=f"6d2a1b2c-0000-4000-8000-{number:012d}"))
    return base64.b64encode(buffer.getvalue()).decode()


def ioc_params(data: str) -> dict:
    return {"ioc": data, "isolateHost": False, "scanCriticalAreas": True, "quarantineObject": False}


class TestInvisibleCharacters:
    @pytest.mark.parametrize("char", INVISIBLE, ids=lambda ch: f"U+{ord(ch):04X}")
    def test_params_refuse_them_naming_the_field_and_the_character(self, char):
        with pytest.raises(catalog.ParamErrors) as refused:
            catalog.clean_params("getFile", {"path": f"C:\\Users\\x\\invoice{char}gpj.exe"})
        message = " ".join(refused.value.errors["path"])
        assert "path must not contain invisible or direction-changing characters" in message
        assert f"U+{ord(char):04X}" in message

    @pytest.mark.parametrize("char", INVISIBLE, ids=lambda ch: f"U+{ord(ch):04X}")
    def test_host_ids_refuse_them(self, char):
        with pytest.raises(ValueError, match="target host must not contain invisible"):
            catalog.clean_target_host(f"0f3b2a4c{char}-1d2e")

    def test_scan_object_paths_refuse_them(self):
        with pytest.raises(catalog.ParamErrors) as refused:
            catalog.clean_params("onDemandScan", [{"enabled": True, "path": "C:\\\u202etmp", "recursive": True, "type": 22}])
        assert "[0].path" in refused.value.errors

    def test_the_api_answers_400_per_field_and_files_nothing(self, api, alice):
        client = api(alice)
        response = client.post(REQUESTS, body(task="getFile", params={"path": "C:\\a\u202etxt.exe"}), format="json")
        assert response.status_code == 400
        assert "U+202E RIGHT-TO-LEFT OVERRIDE" in " ".join(response.json()["errors"]["params"]["path"])
        response = client.post(REQUESTS, body(target_host="host\u200b"), format="json")
        assert response.status_code == 400
        assert "invisible" in " ".join(response.json()["errors"]["target_host"])
        response = client.post(REQUESTS, body(external_ref="KUMA\u200b-42"), format="json")
        assert "external_ref must not contain invisible" in " ".join(response.json()["errors"]["external_ref"])
        assert not ResponseRequest.objects.exists()

    def test_the_web_form_refuses_them_too(self, client, login, alice):
        login(client, alice)
        response = client.post(
            NEW,
            {
                "task": "getFile",
                "target_host": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b",
                "justification": "triage",
                "params-path": "C:\\a\u202etxt.exe",
            },
        )
        assert response.status_code == 400
        assert "U+202E RIGHT-TO-LEFT OVERRIDE" in response.content.decode()

    def test_free_text_may_hold_a_joiner_and_the_page_shows_it(self, client, login, alice, bob):
        request = file_request(
            user=alice,
            task="deleteFile",
            target_host="h-1",
            target_host_name="WS\u00ad0142",  # KSC's name for the host, soft hyphen and all
            params={"path": "C:\\Program\u00a0Files\\evil.exe"},  # a no-break space: allowed, but shown
            justification="family emoji \U0001f468\u200d\U0001f469 and\u3000wide space",
        )
        login(client, bob)
        for page in (f"/requests/{request.uuid}/", "/approvals/"):
            text = client.get(page).content.decode()
            assert '<span class="unusual" title="U+00A0 NO-BREAK SPACE">[U+00A0]</span>' in text, page
            assert '<span class="unusual" title="U+200D ZERO WIDTH JOINER">[U+200D]</span>' in text, page
            assert '<span class="unusual" title="U+3000 IDEOGRAPHIC SPACE">[U+3000]</span>' in text, page
            assert 'WS<span class="unusual" title="U+00AD SOFT HYPHEN">[U+00AD]</span>0142' in text, page

    def test_ordinary_text_is_shown_as_it_is_and_escaped(self, client, login, alice, bob):
        request = file_request(
            user=alice,
            task="deleteFile",
            target_host="h-1",
            params={"path": "C:\\a b\\<script>.exe"},
            justification="line one\r\nline two",
        )
        login(client, bob)
        text = client.get(f"/requests/{request.uuid}/").content.decode()
        assert "class=\"unusual\"" not in text
        assert "C:\\a b\\&lt;script&gt;.exe" in text


class TestIocArchives:
    def test_more_than_1000_entries_are_refused(self):
        with pytest.raises(catalog.ParamErrors) as refused:
            catalog.clean_params("iocScan", ioc_params(archive(1001)))
        assert "ioc holds more than 1000 entries." in refused.value.errors["ioc"]
        assert catalog.clean_params("iocScan", ioc_params(archive(1000)))["ioc"]

    def test_a_lying_entry_count_is_refused_before_parsing(self):
        data = bytearray(base64.b64decode(archive(2)))
        end = data.rfind(b"PK\x05\x06")
        data[end + 10 : end + 12] = (5000).to_bytes(2, "little")
        with pytest.raises(catalog.ParamErrors) as refused:
            catalog.clean_params("iocScan", ioc_params(base64.b64encode(bytes(data)).decode()))
        assert "more than 1000 entries" in " ".join(refused.value.errors["ioc"])

    @pytest.mark.parametrize("claimed", [1, 0xFFFF])
    def test_an_end_record_claiming_few_entries_does_not_hide_many(self, claimed):
        # Informational finding of issue 23: the central directory's signatures are counted first.
        data = bytearray(base64.b64decode(archive(1001)))
        end = data.rfind(b"PK\x05\x06")
        data[end + 8 : end + 12] = claimed.to_bytes(2, "little") * 2
        # ...and a central directory size of 0 besides: zipfile reads no entry then, so only counting the
        # signatures before zipfile sees the archive finds the 1001 entries.
        data[end + 12 : end + 16] = (0).to_bytes(4, "little")
        with pytest.raises(catalog.ParamErrors) as refused:
            catalog.clean_params("iocScan", ioc_params(base64.b64encode(bytes(data)).decode()))
        assert "ioc holds more than 1000 entries." in refused.value.errors["ioc"]

    def test_the_limit_is_checked_before_the_archive_through_the_api(self, settings, api, alice):
        settings.REQUEST_RATE_LIMIT = 1
        client = api(alice)
        assert client.post(REQUESTS, body(), format="json").status_code == 201
        # A broken archive: if it were looked at first, the answer would be a 400.
        response = client.post(REQUESTS, body(task="iocScan", params=ioc_params("not-base64!")), format="json")
        assert response.status_code == 429
        assert "REQUEST_RATE_LIMIT" in response.json()["detail"]

    def test_the_limit_is_checked_before_the_archive_in_the_workflow(self, settings, alice):
        settings.REQUEST_RATE_LIMIT = 1
        file_request(user=alice, task="isolateHost", target_host="h", params={"action": 1}, justification="x")
        with pytest.raises(workflow.RateLimited):
            file_request(
                user=alice, task="iocScan", target_host="h", params=ioc_params("not-base64!"), justification="x"
            )

    def test_the_limit_is_checked_before_the_archive_in_the_web_form(self, settings, client, login, alice):
        settings.REQUEST_RATE_LIMIT = 1
        file_request(user=alice, task="isolateHost", target_host="h", params={"action": 1}, justification="x")
        login(client, alice)
        response = client.post(NEW, {**ioc_data(), "params-ioc": SimpleUploadedFile("iocs.zip", b"not a zip")})
        assert response.status_code == 429
        assert "REQUEST_RATE_LIMIT" in response.content.decode()

    def test_lists_carry_the_archives_size_and_digest_never_the_archive(self, client, login, api, alice, dave):
        data = archive(3)
        raw = base64.b64decode(data)
        summary = {"size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
        request = file_request(
            user=alice, task="iocScan", target_host="h-1", params=ioc_params(data), justification="hunt"
        )
        listed = api(dave).get(REQUESTS).json()
        rows = listed["results"] if isinstance(listed, dict) else listed
        assert rows[0]["params"]["ioc"] == summary
        assert data not in json.dumps(listed)
        assert api(dave).get(url(request)).json()["params"]["ioc"] == data  # the detail has it whole
        login(client, dave)
        row = read_csv(client.get("/requests/export.csv"))[0]
        assert json.loads(row["params"])["ioc"] == summary
        assert data not in json.dumps(row)
