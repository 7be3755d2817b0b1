"""``Idempotency-Key``: a retried POST gets the first answer back instead of acting twice.

A SIEM that times out waiting for our answer does not know whether its request
was filed; it retries with the same key and gets the original answer (and the
original request id), not a second request.

The key's row is written in the same transaction as the action and its answer,
so either both are kept or neither (a 5xx or a 429 keeps nothing: the retry acts anew).
The unique (user, key) constraint makes a concurrent twin wait for the first
transaction; it then fails to insert and replays the first answer. Keys are
kept 24 hours per user; older ones are ignored and purged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from responses.api.errors import error_response
from responses.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEEP = dt.timedelta(hours=24)
# Answers not kept: the refusal lifts by itself (the filing rate limit), like a 5xx.
TRANSIENT = {status.HTTP_429_TOO_MANY_REQUESTS}


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and all("\x21" <= ch <= "\x7e" for ch in key)


def _fingerprint(request: Request) -> str:
    # The parsed body, canonically serialised: a client that re-serialises the same
    # JSON with another key order or spacing is still sending the same request.
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=JSONEncoder)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(stored: IdempotencyKey, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint:
        return error_response(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            _(
                "This Idempotency-Key was already used for a different request (another path or body) "
                "in the last 24 hours; use a new key for a new request."
            ),
            "idempotency_key_reused",
        )
    return Response(json.loads(stored.response_body), status=stored.response_status, headers={REPLAYED_HEADER: "true"})


def run_once(request: Request, action: Callable[[], Response]) -> Response:
    """Run ``action`` (which turns its own errors into responses) at most once per user and key."""
    key = request.headers.get(HEADER)
    if key is None:
        return action()
    if not _valid_key(key):
        return error_response(
            status.HTTP_400_BAD_REQUEST,
            _("The Idempotency-Key header must be 1 to 255 visible ASCII characters (a UUID is a good key)."),
            "invalid",
            {HEADER: [_("1 to 255 visible ASCII characters.")]},
        )
    fingerprint = _fingerprint(request)  # a body that is not JSON raises a 400 here, and nothing is kept
    user = request.user
    with transaction.atomic():
        IdempotencyKey.objects.filter(user=user, created_at__lt=timezone.now() - KEEP).delete()
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(user=user, key=key, fingerprint=fingerprint)
        except IntegrityError:
            # Kept from an earlier call, or a twin that just committed (PostgreSQL made
            # this insert wait for it): answer as the first call did.
            return _replay(IdempotencyKey.objects.get(user=user, key=key), fingerprint)
        response = action()
        if response.status_code in TRANSIENT or response.status_code >= 500:
            # Nothing was done and trying again later may work: keep nothing, so that the retry acts.
            transaction.set_rollback(True)
            return response
        record.response_status = response.status_code
        # Stored as the JSON the client received, so that the replay is the same data.
        record.response_body = json.dumps(response.data, cls=JSONEncoder)
        record.save(update_fields=["response_status", "response_body"])
    return response
