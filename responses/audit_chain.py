"""The keyed audit chains: appending, anchoring, verifying (docs/audit-chain.md).

- One chain per request (its RequestEvents), one for accounts (AccountEvents),
  one of anchors. Each link is HMAC-SHA256(AUDIT_CHAIN_KEY, prev_hash + canonical
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
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from responses import approvals
from responses.models import (
    AccountEvent,
    AuditAnchor,
    Decision,
    RequestEvent,
    ResponseRequest,
    payload_fingerprint,
)
from responses.paging import keyset_batches
from responses.states import PRIMARY_SERVER, TRANSITIONS, Status

anchor_log = logging.getLogger("portal.audit.anchor")

GENESIS = "0" * 64
# pg_advisory_xact_lock keys of the two chains that have no row of their own to lock.
_ACCOUNTS_LOCK = 0x45445241  # "EDRA"
_ANCHORS_LOCK = 0x4544524E  # "EDRN"


def canonical(chain: str, seq: int, content: dict) -> str:
    """What a link's HMAC covers, serialised the same way every time."""
    return json.dumps(
        {"chain": chain, "seq": seq, **content}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def link_hash(prev_hash: str, chain: str, seq: int, content: dict, key: str | None = None) -> str:
    secret = (key if key is not None else settings.AUDIT_CHAIN_KEY).encode("utf-8")
    message = (prev_hash + canonical(chain, seq, content)).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _plain_hash(prev_hash: str, chain: str, seq: int, content: dict) -> str:
    """The unkeyed sha256 a forger without the key would compute; verification names it."""
    return hashlib.sha256((prev_hash + canonical(chain, seq, content)).encode("utf-8")).hexdigest()


def _seal(row, prev_hash: str, seq: int) -> None:
    row.seq, row.prev_hash = seq, prev_hash
    row.hash = link_hash(prev_hash, row.chain, seq, row.content())
    row.save()


def _advisory_lock(key: int) -> None:
    """Serialise the appenders of a chain with no row of its own; SQLite serialises all writers anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def append_request_event(event: RequestEvent) -> RequestEvent:
    """Seal and save a new event at the end of its request's chain, in the caller's transaction."""
    # The request's row lock (most callers hold it already) orders the writers of this one chain.
    ResponseRequest.objects.select_for_update().filter(pk=event.request_id).values_list("pk").first()
    last = (
        RequestEvent.objects.filter(request_id=event.request_id).order_by("-seq").values_list("seq", "hash").first()
    )
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    _seal(event, prev, seq)
    return event


def append_account_event(event: AccountEvent) -> AccountEvent:
    """Seal and save a new event at the end of the accounts chain, in the caller's transaction."""
    with transaction.atomic():
        _advisory_lock(_ACCOUNTS_LOCK)
        last = AccountEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        _seal(event, prev, seq)
    return event


def _heads_of(request_ids: list[int]) -> dict[str, list]:
    """{request uuid: [last seq, last hash]} for these requests."""
    heads: dict[str, list] = {}
    for start in range(0, len(request_ids), 500):
        rows = (
            RequestEvent.objects.filter(request_id__in=request_ids[start : start + 500])
            .order_by("request_id", "seq")
            .values_list("request__uuid", "seq", "hash")
        )
        for key, seq, digest in rows:
            heads[str(key)] = [seq, digest]
    return heads


def take_anchor(now: dt.datetime | None = None) -> AuditAnchor:
    """Sign the heads of every chain that moved since the previous anchor (the periodic job).

    Chains touched since the previous anchor *less AUDIT_ANCHOR_OVERLAP* are read again,
    so that an event written before the previous anchor but committed after it is covered.
    """
    now = now or timezone.now()
    with transaction.atomic():
        _advisory_lock(_ANCHORS_LOCK)
        previous = AuditAnchor.objects.order_by("-seq").first()
        events = RequestEvent.objects.all()
        if previous is not None:
            events = events.filter(created_at__gte=previous.created_at - dt.timedelta(seconds=settings.AUDIT_ANCHOR_OVERLAP))
        heads = _heads_of(sorted(set(events.values_list("request_id", flat=True))))
        accounts = AccountEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        if accounts:
            heads[AccountEvent.CHAIN] = list(accounts)
        anchor = AuditAnchor(created_at=now, heads=heads)
        _seal(anchor, previous.hash if previous else GENESIS, previous.seq + 1 if previous else 1)
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


def anchor_if_due(now: dt.datetime | None = None) -> AuditAnchor | None:
    """Take an anchor when the latest is AUDIT_ANCHOR_INTERVAL old (the worker's reconciler beat calls this)."""
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


def _link_problem(row, where: str, expected_seq: int, prev_hash: str) -> str | None:
    if row.seq != expected_seq:
        return f"{where}: expected seq {expected_seq}; events before it were deleted"
    if row.prev_hash != prev_hash:
        return f"{where}: it does not link to the event before it"
    content = row.content()
    if hmac.compare_digest(row.hash, link_hash(row.prev_hash, row.chain, row.seq, content)):
        return None
    if row.hash == _plain_hash(row.prev_hash, row.chain, row.seq, content):
        return f"{where}: its hash is a plain sha256, not keyed with AUDIT_CHAIN_KEY: the chain was recomputed"
    return f"{where}: its content was changed after it was written (or it was hashed with another key)"


def _walk(rows, chain_name: str, describe, anchored: tuple[int, str] | None) -> tuple[int, str | None]:
    """Check one chain in seq order; (events seen, first problem)."""
    expected, prev, seen = 1, GENESIS, 0
    for row in rows:
        seen += 1
        problem = _link_problem(row, describe(row), expected, prev)
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
        problem = _link_problem(anchor, where, expected, prev)
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
        elif report.latest_anchor is None and (
            RequestEvent.objects.filter(created_at__lt=limit).exists()
            or AccountEvent.objects.filter(created_at__lt=limit).exists()
        ):
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


def _request_chains() -> Iterator[tuple[ResponseRequest, list[RequestEvent], list[Decision]]]:
    """Every request with its events in seq order and its decisions, a few hundred requests at a time."""
    # A few hundred at a time: params may hold a 10 MiB IOC archive each.
    for batch in keyset_batches(ResponseRequest.objects.all(), "pk", 200):
        events: dict[int, list[RequestEvent]] = {request.pk: [] for request in batch}
        decisions: dict[int, list[Decision]] = {request.pk: [] for request in batch}
        for event in RequestEvent.objects.filter(request_id__in=events).order_by("request_id", "seq"):
            events[event.request_id].append(event)
        for decision in Decision.objects.filter(request_id__in=events).order_by("request_id", "id"):
            decisions[decision.request_id].append(decision)
        for request in batch:
            for event in events[request.pk]:
                event.request = request  # the chain name without a query per event
            yield request, events[request.pk], decisions[request.pk]


def _filed_content_problem(request: ResponseRequest, events: list[RequestEvent]) -> str | None:
    """The row's task, host and params must still be what the (chained) FILED event recorded."""
    filed = next((event for event in events if event.kind == "filed"), None)
    if filed is None:
        return f"request {request.uuid}: its trail has no 'filed' event; events were deleted"
    recorded = filed.detail.get("fingerprint")
    current = payload_fingerprint(request.task, request.target_host, request.params, request.server)
    if recorded and (recorded != current or request.fingerprint != current):
        return f"request {request.uuid}: its task, host or params were changed after it was filed"
    # What else the FILED event keeps of the row (PostgreSQL freezes these columns, 0020; the
    # tables' owner can switch that off, but cannot rewrite the keyed event to match).
    detail = filed.detail if isinstance(filed.detail, dict) else {}
    differs = []
    if request.requester_username != filed.actor_username:
        differs.append("requester")
    if request.justification != filed.message:
        differs.append("justification")
    if "external_ref" in detail and request.external_ref != detail["external_ref"]:
        differs.append("external_ref")
    if "approvals_required" in detail and request.approvals_required != detail["approvals_required"]:
        differs.append("approvals_required")
    # The server: named in the event when it is not "primary" (trail.append), like the fingerprint.
    if request.server != detail.get("server", PRIMARY_SERVER):
        differs.append("server")
    if differs:
        return "; ".join(f"request {request.uuid}: its {name} differs from what was filed" for name in differs)
    return None


# Every (from, to) a trail event may record: the transitions, and events that change no status.
_MOVES = {(before, after) for (before, _action), after in TRANSITIONS.items()}
_APPROVED_OR_LATER = {Status.APPROVED, Status.QUEUED, Status.SUBMITTING, Status.SUBMITTED, Status.FAILED}


def _status_path_problem(request: ResponseRequest, events: list[RequestEvent]) -> str | None:
    """The trail's statuses must follow TRANSITIONS from the filing, and end where the row's status is.

    A status set by hand (the portal's own role may UPDATE the table) has no event that leads to it.
    """
    current = None
    for event in events:
        before, after = event.status_before, event.status_after
        where = f"request {request.uuid}, event seq {event.seq} ({event.kind})"
        if current is None:
            if event.kind != "filed" or after not in (Status.PENDING_APPROVAL, Status.APPROVED):
                return f"{where}: a trail starts with its filing, pending approval or approved"
        elif not before:
            # The filing's own approval of a task that needs none names no status before it.
            if after != current:
                return f"{where}: it moves the request to {after} from {current} without saying so"
        elif before != current:
            return f"{where}: it starts from {before}, but the trail before it ends at {current}"
        elif after != before and (before, after) not in _MOVES:
            return f"{where}: {before} to {after} is no transition the portal makes"
        current = after
    if current is not None and request.status != current:
        return (
            f"request {request.uuid}: its status is {request.status} but its trail ends at {current}; "
            "the status was changed outside the portal"
        )
    return None


def _approvers_problem(request: ResponseRequest, events: list[RequestEvent], decisions: list[Decision]) -> str | None:
    """An approved (or later) request must carry the approvals of as many people as it was filed needing."""
    reached = request.status in _APPROVED_OR_LATER or any(event.status_after == Status.APPROVED for event in events)
    if not reached:
        return None
    filed = next((event for event in events if event.kind == "filed"), None)
    frozen = filed.detail.get("approvals_required") if filed is not None and isinstance(filed.detail, dict) else None
    required = max(request.approvals_required, frozen if isinstance(frozen, int) else 0)
    if filed is not None:  # a decision under the name that filed it is the requester's, whatever the row says now
        decisions = [d for d in decisions if d.approver_username != filed.actor_username]
    people = approvals.approving_people(request, decisions)
    # An approver deleted since (approver NULL) still counts here, once, by the username kept on the
    # decision, unless that name is already counted or is the requester's: the trail proved it then.
    names = {name for name in people.values()} | {request.requester_username}
    gone = {
        decision.approver_username
        for decision in decisions
        if decision.approver_id is None
        and decision.decision == approvals.APPROVED
        and decision.fingerprint == request.fingerprint
        and decision.approver_username not in names
    }
    given = len(people) + len(gone)
    if given < required:
        return f"request {request.uuid}: it was approved with {given} of the {required} approvals it needs"
    return None


def verify() -> Report:
    """Walk every chain and the anchors; report the first problem of each chain."""
    report = Report()
    now = timezone.now()
    hashes: dict[int, str] = {}
    anchored = _anchors(report, hashes)
    _anchors_outside(report, hashes, now)
    seen_chains = set()
    for request, events, decisions in _request_chains():
        chain = str(request.uuid)
        seen_chains.add(chain)
        count, problem = _walk(
            events,
            chain,
            lambda event: f"event seq {event.seq} (id {event.pk}, request {event.request.uuid}, {event.kind})",
            anchored.get(chain),
        )
        report.events += count
        report.request_chains += 1
        problem = problem or _filed_content_problem(request, events)
        if problem:
            report.problems.append(problem)
        else:
            for check in (_status_path_problem(request, events), _approvers_problem(request, events, decisions)):
                if check:
                    report.problems.append(check)
        if events and (chain not in anchored or anchored[chain][0] < events[-1].seq):
            report.unanchored += 1
    count, problem = _walk(
        AccountEvent.objects.order_by("seq").iterator(chunk_size=2000),
        AccountEvent.CHAIN,
        lambda event: f"account event seq {event.seq} (id {event.pk}, {event.kind} of {event.subject_username})",
        anchored.get(AccountEvent.CHAIN),
    )
    report.account_events = count
    if problem:
        report.problems.append(problem)
    for chain in sorted(set(anchored) - seen_chains - {AccountEvent.CHAIN}):
        report.problems.append(
            f"chain {chain}: an anchor signed it with {anchored[chain][0]} events, but its request and "
            "events are gone (deleted)"
        )
    return report
