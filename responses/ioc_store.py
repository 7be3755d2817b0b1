"""IOC archives between the preview and the filing, kept server-side by their SHA-256 (issue 23, point 16).

The preview is signed (responses.forms.previews.seal) so that "File request" files exactly what was
previewed. An iocScan's archive is up to 10 MiB, 14 MB in base64: carried in the signed
field it went to the browser and back with every preview. Instead the archive is stored
here, for its user, and the signed preview names it by its SHA-256; filing takes it back.

- kept for KEEP_SECONDS, a preview's lifetime (a preview older than that is refused anyway), at most
  MAX_KEPT_PER_USER per user (the newest; an older preview then asks for the file again);
- the keeper's beat deletes the rows past their age (a duty of the keeper's beat, worker/duties.py);
- a user reads only their own archives: the digest alone opens nothing.

A filed request keeps its archive in its own params, as before; nothing here is part of the audit trail.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone

from responses.models import StoredIocArchive
from worker import duties

MAX_KEPT_PER_USER = 5
# A preview's lifetime (responses.forms.previews.PREVIEW_MAX_AGE is this): no archive is needed for longer.
KEEP_SECONDS = 60 * 60
# How a sealed preview names a stored archive in place of its base64.
STORED = "stored_ioc_archive_sha256"


def _max_age() -> dt.timedelta:
    return dt.timedelta(seconds=KEEP_SECONDS)


def keep(user, encoded: str) -> str:
    """Store the archive (base64, as the catalog checked it) for ``user``; its SHA-256."""
    data = base64.b64decode(encoded)
    digest = hashlib.sha256(data).hexdigest()
    now = timezone.now()
    try:
        with transaction.atomic():
            updated = StoredIocArchive.objects.filter(user=user, sha256=digest).update(stored_at=now)
            if not updated:
                StoredIocArchive.objects.create(user=user, sha256=digest, data=data, stored_at=now)
    except IntegrityError:  # the same archive previewed twice at once: the other one stored it
        StoredIocArchive.objects.filter(user=user, sha256=digest).update(stored_at=now)
    newest = StoredIocArchive.objects.filter(user=user).order_by("-stored_at", "-id").values_list("id", flat=True)
    StoredIocArchive.objects.filter(user=user).exclude(id__in=list(newest[:MAX_KEPT_PER_USER])).delete()
    return digest


def take(user, digest: str) -> str | None:
    """The archive ``user`` stored under ``digest``, in base64; None when gone (too old, or pushed out)."""
    if not isinstance(digest, str):
        return None
    row = (
        StoredIocArchive.objects.filter(user=user, sha256=digest, stored_at__gt=timezone.now() - _max_age())
        .only("data")
        .first()
    )
    if row is None:
        return None
    data = bytes(row.data)
    if hashlib.sha256(data).hexdigest() != digest:  # changed in the database: not what was previewed
        return None
    return base64.b64encode(data).decode("ascii")


@duties.every_beat("expired-ioc-archives")
def delete_expired() -> int:
    """Delete the archives older than a preview may be; how many."""
    deleted, _by_model = StoredIocArchive.objects.filter(stored_at__lte=timezone.now() - _max_age()).delete()
    return deleted
