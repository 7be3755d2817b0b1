"""The audit trail as JSON lines, for auditors and SIEMs (docs/audit-chain.md).

One line per record: every kind of chain's records (the requests' ``"record": "event"``, the
accounts' ``"account_event"``: each kind writes its own, audit/chain.py's ``ChainKind.export``),
then every anchor (``"anchor"``), each with its chain, seq, prev_hash and hash. A SIEM keeps the
lines; ``verify_audit --against FILE`` later compares them with the database, which catches a
rewrite even by someone who holds AUDIT_CHAIN_KEY. ``since`` pulls only newer records: pull with
an overlap (records are unique by record, chain and seq) because a transaction may commit an
event a little after its time stamp.
Used by the auditors' download and `manage.py export_audit`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

from audit.chain import kinds
from audit.models import AuditAnchor
from audit.paging import keyset_batches

CHUNK = 2000

Key = tuple[str, str, int]  # (record, chain, seq)


def line(record: str, row, **fields) -> str:
    """One record's line: a chain link's common fields, and the kind's own ``fields``."""
    return json.dumps(
        {
            "record": record,
            "chain": row.chain,
            "seq": row.seq,
            "at": row.created_at.isoformat(),
            **fields,
            "prev_hash": row.prev_hash,
            "hash": row.hash,
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def anchor_line(anchor: AuditAnchor) -> str:
    return line("anchor", anchor, heads=anchor.heads)


def chunked(rows, key: str) -> Iterator:
    """Every row of ``rows`` by the unique ``key``, CHUNK at a time: no cursor held across the stream."""
    for batch in keyset_batches(rows, key, CHUNK):
        yield from batch


@dataclass(frozen=True)
class Window:
    """Which records an export holds: at or after ``since``, before ``until``, of one ``chain`` (a request's id).

    Each kind filters its own records by it (``within``); anchors are portal-wide and left out of
    an export of one chain.
    """

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    chain: str | None = None

    def within(self, rows, field: str = "created_at"):
        if self.since is not None:
            rows = rows.filter(**{f"{field}__gte": self.since})
        if self.until is not None:
            rows = rows.filter(**{f"{field}__lt": self.until})
        return rows


def event_lines(since=None, *, until=None, chain: str | None = None) -> Iterator[str]:
    """Every record (at or after ``since``, before ``until``, of ``chain``): each kind's, then the anchors."""
    window = Window(since, until, chain)
    for kind in kinds():
        if kind.export is not None:
            for text in kind.export(window):
                yield text + "\n"
    if chain is not None:
        return
    anchors = window.within(AuditAnchor.objects.all())
    for anchor in chunked(anchors, "seq"):
        yield anchor_line(anchor) + "\n"


def compare_with_export(lines: list[dict]) -> list[str]:
    """Every exported record the database no longer has, or has with another hash."""
    kept: dict[Key, str] = {}
    for number, record in enumerate(lines, 1):
        try:
            kept[(record["record"], str(record["chain"]), int(record["seq"]))] = record["hash"]
        except (KeyError, TypeError, ValueError):
            return [f"line {number} of the export: not a record written by export_audit"]
    stored: dict[Key, str] = {}
    for kind in kinds():
        if kind.stored is not None:
            stored.update(kind.stored(set(kept)))
    for seq, digest in AuditAnchor.objects.values_list("seq", "hash"):
        stored[("anchor", AuditAnchor.CHAIN, seq)] = digest
    problems = []
    for (record, chain, seq), digest in kept.items():
        if (record, chain, seq) not in stored:
            problems.append(f"{record} seq {seq} of chain {chain}: in the export, but deleted from the database")
        elif stored[(record, chain, seq)] != digest:
            problems.append(f"{record} seq {seq} of chain {chain}: the database's differs from the export's")
    return problems
