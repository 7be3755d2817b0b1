"""The audit trail as JSON lines, for auditors and SIEMs (docs/audit-chain.md).

One line per record: every request event (``"record": "event"``), every account
event (``"account_event"``) and every anchor (``"anchor"``), each with its chain,
seq, prev_hash and hash. A SIEM keeps the lines; ``verify_audit --against FILE``
later compares them with the database, which catches a rewrite even by someone
who holds AUDIT_CHAIN_KEY. ``since`` pulls only newer records: pull with an
overlap (records are unique by record, chain and seq) because a transaction may
commit an event a little after its time stamp.
Used by the auditors' download and `manage.py export_audit`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from responses import chain_verification, policy
from responses.models import AccountEvent, AuditAnchor, RequestEvent, VerificationSource
from responses.paging import keyset_batches

CHUNK = 2000


def _line(record: str, row, **fields) -> str:
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


def event_line(event: RequestEvent) -> str:
    request = event.request
    return _line(
        "event",
        event,
        request=str(request.uuid),
        task=request.task,
        target_host=request.target_host,
        target_host_name=request.target_host_name,
        kind=event.kind,
        actor=event.actor_username,
        status_before=event.status_before,
        status_after=event.status_after,
        message=event.message,
        detail=event.detail,
    )


def account_event_line(event: AccountEvent) -> str:
    return _line(
        "account_event",
        event,
        kind=event.kind,
        actor=event.actor_username,
        subject=event.subject_username,
        detail=event.detail,
    )


def anchor_line(anchor: AuditAnchor) -> str:
    return _line("anchor", anchor, heads=anchor.heads)


def _chunked(rows, key: str) -> Iterator:
    """Every row of ``rows`` by the unique ``key``, CHUNK at a time: no cursor held across the stream."""
    for batch in keyset_batches(rows, key, CHUNK):
        yield from batch


def event_lines(since=None) -> Iterator[str]:
    """Every record (at or after ``since``): request events, account events, anchors, a chunk at a time."""
    # Not the request's params: an IOC archive would be read again for every one of its events.
    events = RequestEvent.objects.select_related("request").defer("request__params")
    accounts = AccountEvent.objects.all()
    anchors = AuditAnchor.objects.all()
    if since is not None:
        events = events.filter(created_at__gte=since)
        accounts = accounts.filter(created_at__gte=since)
        anchors = anchors.filter(created_at__gte=since)
    for event in _chunked(events, "id"):
        yield event_line(event) + "\n"
    for account_event in _chunked(accounts, "seq"):
        yield account_event_line(account_event) + "\n"
    for anchor in _chunked(anchors, "seq"):
        yield anchor_line(anchor) + "\n"


def compare_with_export(lines: list[dict]) -> list[str]:
    """Every exported record the database no longer has, or has with another hash."""
    kept: dict[tuple[str, str, int], str] = {}
    for number, line in enumerate(lines, 1):
        try:
            kept[(line["record"], str(line["chain"]), int(line["seq"]))] = line["hash"]
        except (KeyError, TypeError, ValueError):
            return [f"line {number} of the export: not a record written by export_audit"]
    stored: dict[tuple[str, str, int], str] = {}
    request_chains = sorted({chain for record, chain, _seq in kept if record == "event"})
    for start in range(0, len(request_chains), 500):
        rows = RequestEvent.objects.filter(request__uuid__in=request_chains[start : start + 500])
        for chain, seq, digest in rows.values_list("request__uuid", "seq", "hash"):
            stored[("event", str(chain), seq)] = digest
    for seq, digest in AccountEvent.objects.values_list("seq", "hash"):
        stored[("account_event", AccountEvent.CHAIN, seq)] = digest
    for seq, digest in AuditAnchor.objects.values_list("seq", "hash"):
        stored[("anchor", AuditAnchor.CHAIN, seq)] = digest
    problems = []
    for (record, chain, seq), digest in kept.items():
        if (record, chain, seq) not in stored:
            problems.append(f"{record} seq {seq} of chain {chain}: in the export, but deleted from the database")
        elif stored[(record, chain, seq)] != digest:
            problems.append(f"{record} seq {seq} of chain {chain}: the database's differs from the export's")
    return problems


ACCOUNT_EVENTS_PAGE = 50


@login_required
@require_GET
def account_events(request: HttpRequest) -> HttpResponse:
    """GET /audit/accounts/: who granted whom which role or reset whose 2FA, newest first (auditors)."""
    if not policy.may_export_audit(request.user):
        return render(
            request, "responses/refused.html", {"reason": _("Only auditors see account changes.")}, status=403
        )
    events = AccountEvent.objects.order_by("-seq")
    subject = request.GET.get("user", "").strip()
    if subject:
        events = events.filter(Q(subject_username=subject) | Q(actor_username=subject))
    page = Paginator(events, ACCOUNT_EVENTS_PAGE).get_page(request.GET.get("page"))
    query = urlencode({"user": subject}) if subject else ""
    return render(request, "responses/account_events.html", {"page": page, "subject": subject, "query": query})


def _refuse_chain(request: HttpRequest) -> HttpResponse:
    return render(request, "responses/refused.html", {"reason": _("Only auditors verify the audit chain.")}, status=403)


@login_required
@require_http_methods(["GET", "POST"])
def chain_status(request: HttpRequest) -> HttpResponse:
    """GET /audit/chain/: the last verification and the newest anchor; POST: verify every chain now (auditors).

    The POST keeps the result (responses.chain_verification) and leads back to the page, which shows it.
    """
    if not policy.may_export_audit(request.user):
        return _refuse_chain(request)
    if request.method == "POST":
        chain_verification.verify_and_record(source=VerificationSource.USER, user=request.user)
        return redirect("responses:audit_chain")
    return render(
        request,
        "responses/audit_chain.html",
        {
            "latest_anchor": AuditAnchor.objects.order_by("-seq").first(),
            "chain": chain_verification.standing(),
        },
    )


@login_required
@require_GET
def chain_history(request: HttpRequest) -> HttpResponse:
    """GET /audit/chain/history/: the last verifications, newest first (auditors)."""
    if not policy.may_export_audit(request.user):
        return _refuse_chain(request)
    return render(
        request,
        "responses/audit_chain_history.html",
        {"verifications": chain_verification.history(), "limit": chain_verification.HISTORY},
    )


@login_required
@require_GET
def export_jsonl(request: HttpRequest) -> HttpResponse:
    """GET /audit/export.jsonl?since=ISO: the trail as JSON lines (auditors and superusers)."""
    if not policy.may_export_audit(request.user):
        return HttpResponse(_("Only auditors can export the audit trail."), status=403, content_type="text/plain")
    errors = []
    since_raw = request.GET.get("since", "")
    since = parse_datetime(since_raw) if since_raw else None
    if since_raw and since is None:
        errors.append(_("since must be a date and time such as 2026-11-27T08:00:00Z."))
    if errors:
        return HttpResponse(" ".join(errors), status=400, content_type="text/plain")
    response = StreamingHttpResponse(event_lines(since), content_type="application/x-ndjson")
    response["Content-Disposition"] = 'attachment; filename="edr-portal-audit.jsonl"'
    response["Cache-Control"] = "no-store"
    return response
