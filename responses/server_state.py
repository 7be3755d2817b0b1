"""What the portal last knew of each KSC server: contact, login, unreachable (issue 26, point 6).

``contact(server)`` after KSC answered, ``trouble(server, error)`` when it did not (or refused
the login), ``probed(server, words)`` after ``ksc_check --probe``. One small UPSERT each, so the
submission job and the sweep can afford it; failures to record are logged, never raised: the
record serves the administrators' page and must not fail a submission.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from ksc_client.errors import KscAuthError, KscError, KscUnavailable
from responses.models import IN_FLIGHT, KscServerState, ResponseRequest

log = logging.getLogger(__name__)


def _save(server: str, **fields) -> None:
    try:
        with transaction.atomic():
            KscServerState.objects.update_or_create(server=server, defaults=fields)
    except DatabaseError as error:
        log.warning("could not record the state of KSC server %s: %s", server, error)


def contact(server: str, *, login: bool = False) -> None:
    """KSC server ``server`` answered now (and, with ``login``, accepted the portal's login)."""
    now = timezone.now()
    fields = {"last_contact": now, "unreachable_since": None, "last_error": ""}
    if login:
        fields.update(last_login_ok=True, last_login_at=now)
    _save(server, **fields)


def trouble(server: str, error: KscError | Exception) -> None:
    """KSC server ``server`` did not answer, or refused the login: its "unreachable" state starts (if not yet)."""
    now = timezone.now()
    fields = {"last_error": str(error)[:1000]}
    if isinstance(error, KscAuthError):
        fields.update(last_login_ok=False, last_login_at=now)
    if isinstance(error, (KscUnavailable, KscAuthError)):
        since = KscServerState.objects.filter(server=server).values_list("unreachable_since", flat=True).first()
        fields["unreachable_since"] = since or now
    _save(server, **fields)


def probed(server: str, words: str) -> None:
    _save(server, last_probe=words[:1000])


def queue_depths() -> dict[str, int]:
    """Requests on their way to each server (approved, queued, submitting)."""
    rows = ResponseRequest.objects.filter(status__in=IN_FLIGHT).values("server").annotate(n=Count("pk"))
    return {row["server"]: row["n"] for row in rows}


def rows_for(names: list[str]) -> list[KscServerState]:
    """A state per configured server (unsaved and empty for one never contacted), in configuration order."""
    known = {state.server: state for state in KscServerState.objects.filter(Q(server__in=names))}
    return [known.get(name) or KscServerState(server=name) for name in names]
