"""Filing a campaign, for the web form and the API alike: the dry run (preview) and the filing.

``prepare()`` is the dry run: it validates the task and params against the catalog, resolves
the hosts in KSC (batched), takes the protected hosts out (or keeps them under the override),
counts by group, OS and server, lists stale, busy and uncovered hosts and those with the same
task already in flight, and says how many approvals the set needs and why. Approvers see the
same on the campaign's page. ``file_campaign()`` prepares again and files exactly that:
a campaign whose fingerprint covers the sorted host keys. Bad input raises InvalidRequest with
field messages; nothing is filed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import trail
from campaigns.hostsets import Resolution, parse_lines, resolve
from campaigns.models import Campaign, CampaignEventKind, CampaignHost, CampaignStatus, campaign_fingerprint
from ksc_client.errors import KscError
from ksc_client.hosts import MAX_GROUP_PATH, Host
from responses import approvals, catalog, ksc_servers, policy, protected, queueing
from responses import hosts as host_door
from responses.clock import database_now
from responses.errors import InvalidRequest
from responses.hosts import os_covered
from responses.ksc_servers import client_for
from responses.models import OPEN, ResponseRequest, Source

log = logging.getLogger(__name__)

MAX_LINES = 5000  # pasted lines read at most (CAMPAIGN_HARD_MAX hosts, with room for duplicates)
MAX_JUSTIFICATION = 4000


def canary_size(total: int) -> int:
    """max(CAMPAIGN_CANARY hosts, CAMPAIGN_CANARY percent of the set), never more than the set; 0: off."""
    base = settings.CAMPAIGN_CANARY
    if not base:
        return 0
    return min(total, max(base, math.ceil(total * base / 100)))


def reason_text(reason: dict) -> str:
    """One reason for the number of approvals, in the reader's language."""
    code = reason.get("code")
    if code == "task":
        if reason.get("n"):
            return _("%(n)d approval(s): the task's own rule.") % {"n": reason["n"]}
        return _("The task on its own needs no approval.")
    if code == "size":
        return _("One more approver: %(hosts)d hosts is more than %(small)d (CAMPAIGN_SMALL).") % reason
    if code == "group_share":
        return (
            _(
                "One more approver: %(hosts)d of the %(size)d hosts of group %(group)s is more than %(share)d%% "
                "(CAMPAIGN_GROUP_SHARE)."
            )
            % reason
        )
    if code == "break_glass":
        return _("Filed above %(max)d hosts (CAMPAIGN_MAX) under the break-glass permission.") % reason
    if code == "override":
        return _("One more approver: %(count)d protected host(s) included under the override.") % reason
    return str(reason)


@dataclass
class Draft:
    """What a campaign would be: the preview's content, and what filing files."""

    task: str
    params: Any
    server: str
    justification: str
    external_ref: str
    hosts: list[Host]
    excluded: list[dict] = field(default_factory=list)  # protected hosts left out: {"host", "name", "reason"}
    overridden: list[dict] = field(default_factory=list)  # protected hosts kept under the override
    unresolved: list[dict] = field(default_factory=list)
    duplicates: int = 0
    approvals_required: int = 0
    reasons: list[dict] = field(default_factory=list)
    break_glass: bool = False
    override_reason: str = ""
    group: str = ""  # the KSC administration group the hosts were taken from ("" : listed only)
    subgroups: bool = False
    from_group: int = 0  # hosts the group gave (before de-duplication with the listed ones)
    fingerprint: str = ""
    by_group: list[tuple[str, int]] = field(default_factory=list)
    by_os: list[tuple[str, int]] = field(default_factory=list)
    by_server: list[tuple[str, int]] = field(default_factory=list)
    stale: list[Host] = field(default_factory=list)
    busy: list[tuple[Host, int]] = field(default_factory=list)
    in_flight: list[Host] = field(default_factory=list)
    uncovered: list[Host] = field(default_factory=list)
    canary: int = 0

    @property
    def reason_texts(self) -> list[str]:
        return [reason_text(reason) for reason in self.reasons]


def _clean_text(errors: dict, field_name: str, value: Any, *, required: bool, max_length: int) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[field_name] = [_("%(field)s must be text.") % {"field": field_name}]
        return ""
    value = value.strip()
    if required and not value:
        errors[field_name] = [_("%(field)s is required.") % {"field": field_name}]
    elif len(value) > max_length:
        errors[field_name] = [
            _("%(field)s is longer than %(max)d characters.") % {"field": field_name, "max": max_length}
        ]
    elif any(ord(ch) < 32 and ch not in "\n\r\t" for ch in value):
        errors[field_name] = [_("%(field)s must not contain control characters.") % {"field": field_name}]
    return value


def _lines_of(hosts: Any) -> list[str]:
    if isinstance(hosts, str):
        return parse_lines(hosts)
    if isinstance(hosts, list | tuple) and all(isinstance(item, str) for item in hosts):
        return [item.strip() for item in hosts if item.strip()]
    raise ValueError(_("hosts must be a list of host ids or names, or text with one per line."))


def prepare(
    user,
    *,
    task: Any,
    params: Any,
    hosts: Any,
    justification: Any,
    external_ref: Any = "",
    server: Any = "primary",
    break_glass: Any = False,
    override_reason: Any = "",
    group: Any = "",
    subgroups: Any = False,
    token=None,
) -> Draft:
    """The dry run. InvalidRequest (field messages) for bad input, NotAllowed for who may not file."""
    policy.may_campaign(user, policy.FILE, token=token).enforce()
    errors: dict[str, Any] = {}
    try:
        task_type = catalog.get_task(task)
    except catalog.ParamErrors as exc:
        errors["task"] = exc.errors["task"]
        task_type = None
    cleaned = None
    if task_type is not None:
        if any(catalog.field_kind(spec) == catalog.IOC_ZIP for spec in task_type.fields):
            errors["task"] = [_("Campaigns do not carry IOC archives: file an IOC scan per host.")]
        else:
            try:
                cleaned = catalog.clean_params(task_type.name, params)
            except catalog.ParamErrors as exc:
                errors["params"] = exc.errors
    justification = _clean_text(errors, "justification", justification, required=True, max_length=MAX_JUSTIFICATION)
    external_ref = _clean_text(errors, "external_ref", external_ref, required=False, max_length=255)
    override_reason = _clean_text(errors, "override_reason", override_reason, required=False, max_length=2000)
    server = _clean_text(errors, "server", server or "primary", required=True, max_length=64)
    known_servers = _server_names()
    if server and known_servers and server not in known_servers:
        errors["server"] = [_("Unknown KSC server; known: %(names)s.") % {"names": ", ".join(known_servers)}]
    group = _clean_text(errors, "group", group, required=False, max_length=MAX_GROUP_PATH)
    if not isinstance(subgroups, bool):
        errors["subgroups"] = [_("subgroups must be true or false.")]
        subgroups = False
    if not isinstance(break_glass, bool):
        errors["break_glass"] = [_("break_glass must be true or false.")]
        break_glass = False
    if override_reason and not policy.may_override_protected(user):
        errors["override_reason"] = [_("You do not hold the protected-host override permission.")]
    lines: list[str] = []
    try:
        lines = _lines_of(hosts) if hosts not in (None, "", []) or not group else []
    except ValueError as exc:
        errors["hosts"] = [str(exc)]
    if not errors.get("hosts"):
        if not lines and not group and not errors.get("group"):
            errors["hosts"] = [_("Name at least one host (a name, FQDN, IPv4 address or KSC host id per line).")]
        elif len(lines) > MAX_LINES:
            errors["hosts"] = [_("At most %(max)d lines.") % {"max": MAX_LINES}]
    if errors:
        raise InvalidRequest(errors)

    try:
        client = client_for(server)
        resolution: Resolution = resolve(lines, client) if lines else Resolution()
        grouped = _group_hosts(group, subgroups, server) if group else []
    except ImproperlyConfigured:
        raise InvalidRequest({"hosts": [_("KSC is not configured (KSC_HOST): hosts cannot be resolved.")]}) from None
    except KscError as exc:
        raise InvalidRequest({"hosts": [_("KSC could not resolve the hosts: %(error)s") % {"error": exc}]}) from None
    listed = {host.id for host in resolution.hosts}
    for host in grouped:
        if host.id in listed:
            resolution.duplicates += 1
        else:
            listed.add(host.id)
            resolution.hosts.append(host)

    draft = Draft(
        task=task_type.name,
        params=cleaned,
        server=server,
        justification=justification,
        external_ref=external_ref,
        hosts=[],
        unresolved=resolution.unresolved,
        duplicates=resolution.duplicates,
        break_glass=break_glass,
        override_reason=override_reason,
        group=group,
        subgroups=subgroups if group else False,
        from_group=len(grouped),
    )
    rules = protected.all_rules()
    for host in resolution.hosts:
        rule = protected.protection(host.id, host.display_name, host.group_name, draft.task, cleaned, rules)
        if rule is None:
            draft.hosts.append(host)
        elif override_reason:
            draft.hosts.append(host)
            draft.overridden.append({"host": host.id, "name": host.display_name, "reason": rule.describe()})
        else:
            draft.excluded.append({"host": host.id, "name": host.display_name, "reason": rule.describe()})

    total = len(draft.hosts)
    if not total:
        raise InvalidRequest({"hosts": [_("No host is left to act on: every line is unresolved or protected.")]})
    if total > settings.CAMPAIGN_HARD_MAX:
        raise InvalidRequest(
            {
                "hosts": [
                    _("%(n)d hosts is above the hard ceiling of %(max)d (CAMPAIGN_HARD_MAX).")
                    % {"n": total, "max": settings.CAMPAIGN_HARD_MAX}
                ]
            }
        )
    if total > settings.CAMPAIGN_MAX:
        if not break_glass:
            raise InvalidRequest(
                {
                    "hosts": [
                        _(
                            "%(n)d hosts is above %(max)d (CAMPAIGN_MAX): split the campaign, or file it under the "
                            "break-glass permission."
                        )
                        % {"n": total, "max": settings.CAMPAIGN_MAX}
                    ]
                }
            )
        if not policy.may_file_large_campaign(user):
            raise InvalidRequest(
                {"break_glass": [_("You do not hold the break-glass permission for large campaigns.")]}
            )
    elif break_glass:
        draft.break_glass = False  # not needed: the flag does not travel with a campaign that does not need it

    groups = Counter(host.group_name or _("(no group)") for host in draft.hosts)
    draft.by_group = groups.most_common()
    draft.by_os = Counter(host.os_name or _("(unknown OS)") for host in draft.hosts).most_common()
    draft.by_server = [(server, total)]
    _approvals(draft, client, groups)
    _warnings(draft)
    draft.canary = canary_size(total)
    draft.fingerprint = campaign_fingerprint(draft.task, draft.params, draft.server, [h.id for h in draft.hosts])
    return draft


def _group_hosts(group: str, subgroups: bool, server: str) -> list[Host]:
    """The hosts of a KSC administration group, through the hosts' door; InvalidRequest naming the group when
    KSC has no such group, when it holds no host, or more than CAMPAIGN_HARD_MAX."""
    ceiling = settings.CAMPAIGN_HARD_MAX
    try:
        found = host_door.in_group(group, subgroups=subgroups, limit=ceiling, server=server)
    except host_door.UnknownGroup:
        raise InvalidRequest({"group": [_("KSC has no administration group %(group)s.") % {"group": group}]}) from None
    if not found.total:
        message = (
            _("The administration group %(group)s and its subgroups hold no hosts.")
            if subgroups
            else _("The administration group %(group)s holds no hosts itself (its subgroups are not included).")
        )
        raise InvalidRequest({"group": [message % {"group": group}]})
    if found.total > ceiling:
        raise InvalidRequest(
            {
                "group": [
                    _(
                        "The administration group %(group)s holds %(n)d hosts: above the hard ceiling of %(max)d "
                        "(CAMPAIGN_HARD_MAX). Choose a smaller group."
                    )
                    % {"group": group, "n": found.total, "max": ceiling}
                ]
            }
        )
    return found.hosts


def _server_names() -> list[str]:
    return sorted(ksc_servers.server_names())


def _approvals(draft: Draft, client, groups: Counter) -> None:
    base = catalog.approvals_required(draft.task, draft.params)
    reasons: list[dict] = [{"code": "task", "n": base}]
    required = base
    total = len(draft.hosts)
    if total > settings.CAMPAIGN_SMALL:
        required += 1
        reasons.append({"code": "size", "hosts": total, "small": settings.CAMPAIGN_SMALL})
    share = settings.CAMPAIGN_GROUP_SHARE
    for group, count in groups.most_common():
        if count * 100 <= share:  # cannot pass the share of any group of at least one host
            continue
        try:
            size = client.count_hosts_in_group(group)
        except KscError as exc:
            log.warning("counting the hosts of group %r failed: %s", group, exc)
            continue
        if size and count * 100 > share * size:
            required += 1
            reasons.append({"code": "group_share", "group": group, "hosts": count, "size": size, "share": share})
            break  # one more approver, however many groups pass the share
    if draft.break_glass:
        reasons.append({"code": "break_glass", "max": settings.CAMPAIGN_MAX})
    if draft.overridden:
        required += 1
        reasons.append({"code": "override", "count": len(draft.overridden)})
    draft.approvals_required = min(required, 10)
    draft.reasons = reasons


def _warnings(draft: Draft) -> None:
    now = timezone.now()
    stale_after = dt.timedelta(seconds=settings.HOST_STALE_AFTER)
    ids = [host.id for host in draft.hosts]
    for host in draft.hosts:
        seen = host.last_visible or host.last_seen
        if seen is None or now - seen > stale_after:
            draft.stale.append(host)
        if not os_covered(host.os_name):
            draft.uncovered.append(host)
    load = queueing.host_task_load(ids)
    draft.busy = [(host, load[host.id]) for host in draft.hosts if load.get(host.id, 0) >= settings.HOST_TASKS_WARNING]
    same = set(
        ResponseRequest.objects.filter(target_host__in=ids, task=draft.task, status__in=OPEN).values_list(
            "target_host", flat=True
        )
    )
    draft.in_flight = [host for host in draft.hosts if host.id in same]


def file_campaign(
    user,
    *,
    expected_fingerprint: str | None = None,
    source: str = Source.WEB,
    token=None,
    reverse_of: Campaign | None = None,
    **inputs,
) -> Campaign:
    """Prepare again and file exactly that. ``expected_fingerprint``: the preview's (the set changed: refused)."""
    draft = prepare(user, token=token, **inputs)
    if expected_fingerprint is not None and expected_fingerprint != draft.fingerprint:
        raise InvalidRequest(
            {
                "hosts": [
                    _(
                        "The host set changed in KSC since the preview (a host renamed, moved or protected); "
                        "check the new preview."
                    )
                ]
            }
        )
    return file_draft(user, draft, source=source, reverse_of=reverse_of)


def file_draft(user, draft: Draft, *, source: str = Source.WEB, reverse_of: Campaign | None = None) -> Campaign:
    required = draft.approvals_required
    with transaction.atomic():
        campaign = Campaign.objects.create(
            task=draft.task,
            params=draft.params,
            justification=draft.justification,
            external_ref=draft.external_ref,
            server=draft.server,
            fingerprint=draft.fingerprint,
            requester=user,
            requester_username=user.get_username(),
            source=source,
            status=CampaignStatus.PENDING_APPROVAL if required else CampaignStatus.RUNNING,
            approvals_required=required,
            approval_reasons=draft.reasons,
            break_glass=draft.break_glass,
            override_reason=draft.override_reason,
            unresolved=draft.unresolved,
            canary_size=draft.canary,
            wave_size=settings.CAMPAIGN_WAVE,
            reverse_of=reverse_of,
            expires_at=approvals.window_end(database_now(), required),
        )
        rows = [
            CampaignHost(
                campaign=campaign,
                position=index,
                host_id=host.id,
                display_name=host.display_name,
                group_name=host.group_name,
                os_name=host.os_name,
                last_seen=host.last_visible or host.last_seen,
            )
            for index, host in enumerate(draft.hosts)
        ]
        position = len(rows)
        for index, excluded in enumerate(draft.excluded):
            rows.append(
                CampaignHost(
                    campaign=campaign,
                    position=position + index,
                    host_id=excluded["host"],
                    display_name=excluded["name"],
                    excluded_reason=f"protected at filing: {excluded['reason']}",
                )
            )
        CampaignHost.objects.bulk_create(rows, batch_size=500)
        trail.append(
            campaign,
            CampaignEventKind.FILED,
            user.get_username(),
            "",
            campaign.justification,
            {
                "task": campaign.task,
                "hosts": len(draft.hosts),
                "excluded": len(draft.excluded),
                "unresolved": len(draft.unresolved),
                "approvals_required": required,
                "reasons": draft.reasons,
                "fingerprint": campaign.fingerprint,
                "external_ref": campaign.external_ref,
                "server": campaign.server,
                **(
                    {"override_reason": draft.override_reason, "overridden": draft.overridden}
                    if draft.overridden
                    else {}
                ),
                **({"break_glass": True} if draft.break_glass else {}),
                **({"group": draft.group, "subgroups": draft.subgroups} if draft.group else {}),
                **({"reverse_of": str(reverse_of.uuid)} if reverse_of is not None else {}),
            },
        )
        if not required:
            campaign.approved_at = campaign.decided_at = timezone.now()
            campaign.save(update_fields=["approved_at", "decided_at", "updated_at"])
            trail.append(
                campaign,
                CampaignEventKind.APPROVED,
                trail.SYSTEM,
                CampaignStatus.PENDING_APPROVAL,
                "This task on this many hosts needs no approval.",
            )
    log.info(
        "campaign %s filed by %s: %s on %d hosts",
        campaign.uuid,
        campaign.requester_username,
        campaign.task,
        len(draft.hosts),
    )
    return campaign
