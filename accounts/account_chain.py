"""The accounts' kind of audit chain: one keyed chain named "accounts", of AccountEvents (audit/chain.py).

Who granted whom which role and who reset whose 2FA; accounts/account_trail.py writes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db import transaction

from accounts.models import AccountEvent
from audit import chain, export
from audit.chain import GENESIS, Report

# pg_advisory_xact_lock key of the accounts' chain, which has no row of its own to lock.
_ACCOUNTS_LOCK = 0x45445241  # "EDRA"


def append_account_event(event: AccountEvent) -> AccountEvent:
    """Seal and save a new event at the end of the accounts chain, in the caller's transaction."""
    with transaction.atomic():
        chain.advisory_lock(_ACCOUNTS_LOCK)
        last = AccountEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        chain.seal(event, prev, seq)
    return event




def heads(since: dt.datetime | None) -> dict[str, list]:
    """The accounts chain's head (every anchor signs it, moved or not)."""
    last = AccountEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    return {AccountEvent.CHAIN: list(last)} if last else {}


def has_events_before(when: dt.datetime) -> bool:
    return AccountEvent.objects.filter(created_at__lt=when).exists()


def verify(report: Report, anchored: dict[str, tuple[int, str]]) -> set[str]:
    count, problem = chain.walk(
        AccountEvent.objects.order_by("seq").iterator(chunk_size=2000),
        AccountEvent.CHAIN,
        lambda event: f"account event seq {event.seq} (id {event.pk}, {event.kind} of {event.subject_username})",
        anchored.get(AccountEvent.CHAIN),
    )
    report.account_events = count
    if problem:
        report.problems.append(problem)
    return {AccountEvent.CHAIN}


def account_event_line(event: AccountEvent) -> str:
    return export.line(
        "account_event",
        event,
        kind=event.kind,
        actor=event.actor_username,
        subject=event.subject_username,
        detail=event.detail,
    )


def export_lines(window: export.Window) -> Iterator[str]:
    """The account events in ``window``; none in an export of another chain (one request's)."""
    if window.chain is not None and window.chain != AccountEvent.CHAIN:
        return
    events = window.within(AccountEvent.objects.all())
    for event in export.chunked(events, "seq"):
        yield account_event_line(event)


def stored(keys: set[tuple[str, str, int]]) -> dict[tuple[str, str, int], str]:
    return {("account_event", AccountEvent.CHAIN, seq): digest for seq, digest in AccountEvent.objects.values_list("seq", "hash")}


chain.register_kind(
    chain.ChainKind(
        name="accounts",
        heads=heads,
        has_events_before=has_events_before,
        verify=verify,
        export=export_lines,
        stored=stored,
        order=20,
    )
)
