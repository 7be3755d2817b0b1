"""The keyed audit chains: appending, anchoring, verifying (docs/audit-chain.md).

- Each app registers its kind of chain (``register_kind``): the requests' (one chain per
  request, responses/request_chain.py) and the accounts' (one chain, accounts/account_chain.py);
  anchors are this app's own chain. This module names no other app's models. Each link is HMAC-SHA256(AUDIT_CHAIN_KEY, prev_hash + canonical
  content), so whoever can write the tables but does not hold the key cannot
  recompute a chain that verification accepts.
- Appending to a request's chain locks only that request's row: writers on
  different requests never wait for each other.
- An anchor periodically signs the heads of the chains that moved; it remembers
  how long each chain was, so deleting a chain's last events is caught.
- Each anchor also leaves the database when it is taken (a log line on
  "portal.audit.anchor", and a line in AUDIT_ANCHOR_LOG when set): the tables' owner
  can delete the last events *and* the anchors that signed them, but not those copies,
  and verification refuses a newest anchor that is too old or older than the copies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditAnchor
from worker import duties

anchor_log = logging.getLogger("portal.audit.anchor")

GENESIS = "0" * 64
# pg_advisory_xact_lock key of the anchors' chain, which has no row of its own to lock.
_ANCHORS_LOCK = 0x4544524E  # "EDRN"


@dataclass(frozen=True)
class ChainKind:
    """A kind of chain an app keeps, as the anchors and the verification ask it.

    - ``heads(since)``: {chain name: [last seq, last hash]} of its chains that moved at or after
      ``since`` (every chain when None): what an anchor signs;
    - ``has_events_before(when)``: whether any of its events is older than ``when``;
    - ``verify(report, anchored)``: walk its chains (``walk``), add counts and problems to the
      report, compare with the heads anchors signed (``anchored``); answers the chain names seen;
    - ``gone(chain, seq)``: the words for a chain of this kind an anchor signed that is gone, or
      None when the name is not of this kind;
    - ``export(window)``: its records in an audit/export.py ``Window`` (dates, one chain) as JSON lines
      (audit/export.py's ``line``), oldest first;
    - ``stored(keys)``: {(record, chain, seq): hash} the database holds of the exported ``keys``;
    - ``order``: where its problems stand in a report (lower first).
    """

    name: str
    heads: Callable[[dt.datetime | None], dict[str, list]]
    has_events_before: Callable[[dt.datetime], bool]
    verify: Callable[[Report, dict[str, tuple[int, str]]], set[str]]
    gone: Callable[[str, int], str | None] = lambda chain, seq: None
    export: Callable[[Any], Iterator[str]] | None = None
    stored: Callable[[set[tuple[str, str, int]]], dict[tuple[str, str, int], str]] | None = None
    order: int = 100


KINDS: dict[str, ChainKind] = {}


def register_kind(kind: ChainKind) -> None:
    """Register (or replace, on a module's second import) the kind of chain named ``kind.name``."""
    KINDS[kind.name] = kind


def kinds() -> list[ChainKind]:
    return sorted(KINDS.values(), key=lambda kind: (kind.order, kind.name))


def canonical(chain: str, seq: int, content: dict) -> str:
    """What a link's HMAC covers, serialised the same way every time."""
    return json.dumps(
        {"chain": chain, "seq": seq, **content}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def link_hash(prev_hash: str, chain: str, seq: int, content: dict, key: str | None = None) -> str:
    secret = (key if key is not None else settings.AUDIT_CHAIN_KEY).encode("utf-8")
    message = (prev_hash + canonical(chain, seq, content)).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def plain_hash(prev_hash: str, chain: str, seq: int, content: dict) -> str:
    """The unkeyed sha256 a forger without the key would compute; verification names it."""
    return hashlib.sha256((prev_hash + canonical(chain, seq, content)).encode("utf-8")).hexdigest()


def seal(row, prev_hash: str, seq: int) -> None:
    row.seq, row.prev_hash = seq, prev_hash
    row.hash = link_hash(prev_hash, row.chain, seq, row.content())
    row.save()


def advisory_lock(key: int) -> None:
    """Serialise the appenders of a chain with no row of its own; SQLite serialises all writers anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def take_anchor(now: dt.datetime | None = None) -> AuditAnchor:
    """Sign the heads of every chain that moved since the previous anchor (the periodic job).

    Chains touched since the previous anchor *less AUDIT_ANCHOR_OVERLAP* are read again,
    so that an event written before the previous anchor but committed after it is covered.
    """
    now = now or timezone.now()
    with transaction.atomic():
        advisory_lock(_ANCHORS_LOCK)
        previous = AuditAnchor.objects.order_by("-seq").first()
        since = None
        if previous is not None:
            since = previous.created_at - dt.timedelta(seconds=settings.AUDIT_ANCHOR_OVERLAP)
        heads: dict[str, list] = {}
        for kind in kinds():
            heads.update(kind.heads(since))
        anchor = AuditAnchor(created_at=now, heads=heads)
        seal(anchor, previous.hash if previous else GENESIS, previous.seq + 1 if previous else 1)
        # Published once it is committed: an anchor rolled back was never taken.
        transaction.on_commit(lambda: publish_anchor(anchor))
    return anchor


def anchor_record(anchor: AuditAnchor) -> dict:
    """What is published of an anchor: its seq, time and hash (the HMAC, never the key)."""
    return {"seq": anchor.seq, "at": anchor.created_at.isoformat(), "hash": anchor.hash}


def publish_anchor(anchor: AuditAnchor) -> None:
    """Copy an anchor outside the database: a log line (syslog/the SIEM) and AUDIT_ANCHOR_LOG when set."""
    record = anchor_record(anchor)
    anchor_log.info("audit anchor seq=%d at=%s hash=%s chains=%d", anchor.seq, record["at"], anchor.hash, len(anchor.heads))
    path = settings.AUDIT_ANCHOR_LOG
    if not path:
        return
    line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    try:
        # O_APPEND: one write per line, at the end, whoever else appends; created readable by the owner only.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(descriptor, line.encode("utf-8"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as exc:
        anchor_log.error("audit anchor seq=%d could not be appended to AUDIT_ANCHOR_LOG %s: %s", anchor.seq, path, exc)


def read_anchor_log(path: str) -> tuple[list[dict], list[str]]:
    """The anchors recorded in AUDIT_ANCHOR_LOG, and the problems reading it (a missing file: none yet)."""
    records, problems = [], []
    try:
        with open(path, encoding="utf-8") as kept:
            for number, text in enumerate(kept, 1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                    if not (isinstance(record.get("seq"), int) and isinstance(record.get("hash"), str)):
                        raise ValueError("no seq and hash")
                except (ValueError, AttributeError):
                    problems.append(f"AUDIT_ANCHOR_LOG {path}, line {number}: it is not an anchor record")
                    continue
                records.append(record)
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"AUDIT_ANCHOR_LOG {path}: cannot be read ({exc}); the anchors cannot be compared with it")
    return records, problems


@duties.every_beat("audit-anchor")
def anchor_if_due(now: dt.datetime | None = None) -> AuditAnchor | None:
    """Take an anchor when the latest is AUDIT_ANCHOR_INTERVAL old (a duty of the keeper's beat)."""
    interval = settings.AUDIT_ANCHOR_INTERVAL
    if not interval:
        return None
    now = now or timezone.now()
    latest = AuditAnchor.objects.order_by("-seq").values_list("created_at", flat=True).first()
    if latest is not None and latest > now - dt.timedelta(seconds=interval):
        return None
    return take_anchor(now)


# --- Verification ------------------------------------------------------------------------------


@dataclass
class Report:
    """What verify() found: counts, and every problem (the first per chain) in words an auditor reads."""

    events: int = 0
    request_chains: int = 0
    account_events: int = 0
    anchors: int = 0
    latest_anchor: dt.datetime | None = None
    latest_anchor_seq: int = 0
    anchors_recorded_outside: int | None = None  # lines of AUDIT_ANCHOR_LOG compared (None: not set)
    unanchored: int = 0  # request chains whose newest events no anchor covers yet
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def link_problem(row, where: str, expected_seq: int, prev_hash: str) -> str | None:
    if row.seq != expected_seq:
        return f"{where}: expected seq {expected_seq}; events before it were deleted"
    if row.prev_hash != prev_hash:
        return f"{where}: it does not link to the event before it"
    content = row.content()
    if hmac.compare_digest(row.hash, link_hash(row.prev_hash, row.chain, row.seq, content)):
        return None
    if row.hash == plain_hash(row.prev_hash, row.chain, row.seq, content):
        return f"{where}: its hash is a plain sha256, not keyed with AUDIT_CHAIN_KEY: the chain was recomputed"
    return f"{where}: its content was changed after it was written (or it was hashed with another key)"


def walk(rows, chain_name: str, describe, anchored: tuple[int, str] | None) -> tuple[int, str | None]:
    """Check one chain in seq order; (events seen, first problem)."""
    expected, prev, seen = 1, GENESIS, 0
    for row in rows:
        seen += 1
        problem = link_problem(row, describe(row), expected, prev)
        if problem:
            return seen, problem
        if anchored and row.seq == anchored[0] and row.hash != anchored[1]:
            return seen, f"{describe(row)}: it differs from the event anchor {anchored[0]} signed"
        expected, prev = expected + 1, row.hash
    if anchored and expected - 1 < anchored[0]:
        return seen, (
            f"chain {chain_name}: ends at seq {expected - 1}, but an anchor signed it with {anchored[0]} events; "
            f"events {expected}..{anchored[0]} were deleted"
        )
    return seen, None


def _anchors(report: Report, hashes: dict[int, str]) -> dict[str, tuple[int, str]]:
    """Verify the anchors' own chain; the latest anchored head of every chain (and each anchor's hash in ``hashes``)."""
    anchored: dict[str, tuple[int, str]] = {}
    expected, prev = 1, GENESIS
    for anchor in AuditAnchor.objects.order_by("seq").iterator(chunk_size=200):
        hashes[anchor.seq] = anchor.hash
        where = f"anchor {anchor.seq} ({anchor.created_at.isoformat()})"
        problem = link_problem(anchor, where, expected, prev)
        if problem:
            report.problems.append(problem)
            return anchored
        for chain, (seq, digest) in anchor.heads.items():
            earlier = anchored.get(chain)
            if earlier and seq < earlier[0]:
                report.problems.append(f"{where}: chain {chain} went back from seq {earlier[0]} to {seq}")
            anchored[chain] = (seq, digest)
        expected, prev = expected + 1, anchor.hash
        report.anchors += 1
        report.latest_anchor = anchor.created_at
        report.latest_anchor_seq = anchor.seq
    return anchored


def _anchors_outside(report: Report, hashes: dict[int, str], now: dt.datetime) -> None:
    """The newest anchor must be recent, and no older than the copies kept outside the database.

    Whoever owns the tables can delete a chain's last events together with the anchors that
    signed them; what is left is a consistent, shorter history. Anchors are taken every
    AUDIT_ANCHOR_INTERVAL, so a newest anchor older than twice that means anchors were
    deleted (or no worker took one); AUDIT_ANCHOR_LOG keeps every anchor's seq and hash.
    """
    interval = settings.AUDIT_ANCHOR_INTERVAL
    if interval:
        limit = now - dt.timedelta(seconds=2 * interval)
        if report.latest_anchor is not None and report.latest_anchor < limit:
            report.problems.append(
                f"the newest anchor, {report.latest_anchor_seq} of {report.latest_anchor.isoformat()}, is older than "
                f"twice AUDIT_ANCHOR_INTERVAL ({interval} s): later anchors were deleted, or no worker has taken one since"
            )
        elif report.latest_anchor is None and any(kind.has_events_before(limit) for kind in kinds()):
            report.problems.append(
                f"there is no anchor, though events older than twice AUDIT_ANCHOR_INTERVAL ({interval} s) exist: "
                "the anchors were deleted, or no worker has taken one"
            )
    path = settings.AUDIT_ANCHOR_LOG
    if not path:
        return
    records, problems = read_anchor_log(path)
    report.problems.extend(problems)
    report.anchors_recorded_outside = len(records)
    missing = [record for record in records if record["seq"] not in hashes]
    if missing:
        last = missing[-1]
        report.problems.append(
            f"anchor {last['seq']} of {last.get('at', '?')} is recorded in AUDIT_ANCHOR_LOG but not in the database "
            f"({len(missing)} such): anchors were deleted, with the events they signed"
        )
    changed = [record for record in records if record["seq"] in hashes and hashes[record["seq"]] != record["hash"]]
    if changed:
        report.problems.append(
            f"anchor {changed[0]['seq']} differs from the one recorded in AUDIT_ANCHOR_LOG ({len(changed)} such): "
            "the anchors were rewritten"
        )


def verify() -> Report:
    """Walk every chain of every kind and the anchors; report the first problem of each chain."""
    report = Report()
    now = timezone.now()
    hashes: dict[int, str] = {}
    anchored = _anchors(report, hashes)
    _anchors_outside(report, hashes, now)
    seen: set[str] = set()
    for kind in kinds():
        seen |= kind.verify(report, anchored)
    for chain in sorted(set(anchored) - seen):
        for kind in kinds():
            words = kind.gone(chain, anchored[chain][0])
            if words:
                report.problems.append(words)
                break
        else:
            report.problems.append(
                f"chain {chain}: an anchor signed it with {anchored[chain][0]} events, but no kind of chain "
                "this portal keeps knows it (its events are gone, or its app was removed)"
            )
    return report
