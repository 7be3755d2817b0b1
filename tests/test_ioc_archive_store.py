"""An IOC archive stays on the server between the preview and the filing, by its SHA-256 (issue 23, point 16).

The signed preview names it; filing takes it back; old or pushed-out archives are refused and
deleted by the keeper; IOC previews count in the per-user preview limit.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from responses import ioc_store
from responses.models import ResponseRequest, StoredIocArchive
from tests.support.openioc import openioc
from tests.support.pages import NEW, ioc_data
from worker.keeper import Keeper


def big_archive(size: int = 1536 * 1024) -> bytes:
    """A valid archive of one OpenIOC file whose description is ``size`` bytes of incompressible text."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        text = base64.b64encode(os.urandom(size * 3 // 4)).decode()
        archive.writestr("big.ioc", openioc(f"id-{os.urandom(4).hex()}", description=text))
    return buffer.getvalue()


def preview(client, archive: bytes):
    return client.post(NEW, {**ioc_data(), "params-ioc": SimpleUploadedFile("iocs.zip", archive)})


@pytest.fixture
def analyst(client, login, alice, ksc_queue):
    login(client, alice)
    return client


def test_the_preview_names_the_archive_by_its_digest_and_filing_takes_it_back(analyst, alice):
    archive = big_archive()
    digest = hashlib.sha256(archive).hexdigest()

    response = preview(analyst, archive)

    assert response.status_code == 200
    sealed = response.context["sealed"]
    assert len(sealed) < 4096, "the signed field carries a digest, not 2 MB of base64"
    assert len(response.content) < 256 * 1024
    stored = StoredIocArchive.objects.get(user=alice)
    assert stored.sha256 == digest and bytes(stored.data) == archive

    filed = analyst.post(NEW, {"step": "file", "sealed": sealed})

    assert filed.status_code == 302
    request = ResponseRequest.objects.get()
    assert base64.b64decode(request.params["ioc"]) == archive
    # "Change it" brings the same archive back to the form.
    again = preview(analyst, archive)
    edit = analyst.post(NEW, {"step": "edit", "sealed": again.context["sealed"]})
    assert edit.status_code == 200 and "An archive is attached" in edit.content.decode()


def test_a_preview_whose_archive_is_no_longer_kept_is_refused_and_files_nothing(analyst, alice):
    sealed = preview(analyst, big_archive(4096)).context["sealed"]
    StoredIocArchive.objects.filter(user=alice).update(stored_at=timezone.now() - dt.timedelta(seconds=3601))

    response = analyst.post(NEW, {"step": "file", "sealed": sealed})

    assert response.status_code == 400
    assert "This preview has expired or is not valid: fill in the request again." in response.content.decode()
    assert ResponseRequest.objects.count() == 0


def test_an_archive_changed_in_the_database_is_refused(analyst, alice):
    sealed = preview(analyst, big_archive(4096)).context["sealed"]
    StoredIocArchive.objects.filter(user=alice).update(data=b"PK\x05\x06" + b"\0" * 18)

    assert analyst.post(NEW, {"step": "file", "sealed": sealed}).status_code == 400
    assert ResponseRequest.objects.count() == 0


def test_a_user_keeps_a_few_archives_and_the_oldest_preview_asks_again(analyst, alice, settings):
    settings.PREVIEW_RATE_LIMIT = 0
    sealed = [preview(analyst, big_archive(2048)).context["sealed"] for _ in range(ioc_store.MAX_KEPT_PER_USER + 1)]

    assert StoredIocArchive.objects.filter(user=alice).count() == ioc_store.MAX_KEPT_PER_USER
    assert analyst.post(NEW, {"step": "file", "sealed": sealed[0]}).status_code == 400
    assert analyst.post(NEW, {"step": "file", "sealed": sealed[-1]}).status_code == 302


def test_nobody_else_reads_an_archive_by_its_digest(alice, frank):
    encoded = base64.b64encode(big_archive(1024)).decode()
    digest = ioc_store.keep(alice, encoded)
    assert ioc_store.take(alice, digest) == encoded
    assert ioc_store.take(frank, digest) is None


def test_the_keepers_beat_deletes_archives_older_than_a_preview(alice, ksc_queue):
    old = ioc_store.keep(alice, base64.b64encode(big_archive(1024)).decode())
    fresh = ioc_store.keep(alice, base64.b64encode(big_archive(1024)).decode())
    StoredIocArchive.objects.filter(sha256=old).update(stored_at=timezone.now() - dt.timedelta(hours=2))

    keeper = Keeper([ksc_queue.name])
    keeper.tick()
    keeper.release()

    assert list(StoredIocArchive.objects.values_list("sha256", flat=True)) == [fresh]


def test_ioc_previews_count_in_the_per_user_limit_before_the_archive_is_read(analyst, settings):
    settings.PREVIEW_RATE_LIMIT = 1
    assert preview(analyst, big_archive(4096)).status_code == 200

    # Over the limit a broken archive gets a 429, not a 400: it was not unpacked.
    refused = preview(analyst, b"not a zip")

    assert refused.status_code == 429
    assert "PREVIEW_RATE_LIMIT" in refused.content.decode()
    assert StoredIocArchive.objects.count() == 1


def test_a_redisplayed_form_carries_the_archives_digest_not_its_base64(analyst, alice, frank, client):
    archive = big_archive()
    encoded = base64.b64encode(archive).decode()
    reference = f"stored:{hashlib.sha256(archive).hexdigest()}:{len(archive)}"
    # A field to correct: the form comes back with the archive attached, by reference.
    wrong = analyst.post(
        NEW, {**ioc_data(justification=""), "params-ioc": SimpleUploadedFile("iocs.zip", archive)}
    )
    assert wrong.status_code == 400
    page = wrong.content.decode()
    assert f'value="{reference}"' in page and encoded[:1000] not in page
    assert len(wrong.content) < 256 * 1024
    # "Change it" on a preview: the same.
    sealed = preview(analyst, archive).context["sealed"]
    edit = analyst.post(NEW, {"step": "edit", "sealed": sealed})
    assert f'value="{reference}"' in edit.content.decode() and len(edit.content) < 256 * 1024
    # The search without JavaScript keeps it attached by reference too.
    search = analyst.post(NEW, {**ioc_data(), "step": "search", "q": "DC01", "params-ioc__carried": reference})
    assert f'value="{reference}"' in search.content.decode()
    # Sent back, the reference is the archive again; what is filed is the whole archive.
    again = analyst.post(NEW, {**ioc_data(), "params-ioc__carried": reference})
    assert again.status_code == 200
    assert analyst.post(NEW, {"step": "file", "sealed": again.context["sealed"]}).status_code == 302
    assert base64.b64decode(ResponseRequest.objects.get().params["ioc"]) == archive


def test_a_reference_to_an_archive_that_is_gone_or_someone_elses_asks_for_the_file_again(analyst, alice, frank):
    archive = big_archive(4096)
    digest = ioc_store.keep(frank, base64.b64encode(archive).decode())
    reference = f"stored:{digest}:{len(archive)}"

    response = analyst.post(NEW, {**ioc_data(), "params-ioc__carried": reference})

    assert response.status_code == 400
    page = response.content.decode()
    assert "“IOC archive” is required." in page
    assert 'id="file-again" role="alert">' in page  # shown, not hidden
    assert ResponseRequest.objects.count() == 0
