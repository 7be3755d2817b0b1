"""The preview of a new request (exactly what KSC will get) and the signed token that carries it to filing."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from responses import catalog, consequences, ioc_store, payload
from responses.forms.new_request import Filing

PREVIEW_SALT = "responses.new-request.preview"


# A preview older than this is refused at filing: what was checked may no longer be what the analyst meant.
# Its IOC archives are kept server-side as long (responses/ioc_store.py).
PREVIEW_MAX_AGE = ioc_store.KEEP_SECONDS


# Longer JSON than this is cut in the preview page; a 10 MiB IOC archive is 14 MB of base64.
PREVIEW_DISPLAY_LIMIT = 64 * 1024


def _ioc_param_names(task_name: Any) -> list[str]:
    task = catalog.TASKS.get(task_name)
    return [spec.name for spec in task.fields if catalog.field_kind(spec) == catalog.IOC_ZIP] if task else []


def seal(user, filing: Filing) -> str:
    """The previewed request, signed, so that "File request" files exactly what was previewed.

    An IOC archive is kept server-side (responses/ioc_store.py) and named here by its SHA-256:
    the signed field stays a few hundred bytes instead of 14 MB of base64 each way.
    """
    data = {"user": user.pk, "sealed_at": timezone.now().isoformat(), **filing.as_dict()}
    params = data.get("params")
    if isinstance(params, dict):
        params = dict(params)
        for name in _ioc_param_names(filing.task):
            if isinstance(params.get(name), str) and params[name]:
                params[name] = {ioc_store.STORED: ioc_store.keep(user, params[name])}
        data["params"] = params
    return signing.dumps(data, salt=PREVIEW_SALT, compress=True)


def unseal(user, token: str) -> tuple[dict[str, Any], dt.datetime]:
    """(the filing's fields, when it was previewed); signing.BadSignature when forged, expired or someone else's.

    Also BadSignature when a stored IOC archive it names is gone (older than the preview may be,
    or pushed out by the user's newer previews): the analyst fills the request in again.
    """
    data = signing.loads(token, salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE)
    if not isinstance(data, dict) or data.pop("user", None) != user.pk:
        raise signing.BadSignature("not this user's preview")
    sealed_at = dt.datetime.fromisoformat(data.pop("sealed_at"))
    if data.get("task") not in catalog.TASKS:
        raise signing.BadSignature("unknown task")
    params = data.get("params")
    if isinstance(params, dict):
        for name in _ioc_param_names(data["task"]):
            reference = params.get(name)
            if isinstance(reference, dict):
                archive = ioc_store.take(user, reference.get(ioc_store.STORED))
                if archive is None:
                    raise signing.BadSignature("the previewed IOC archive is no longer kept")
                params[name] = archive
    return data, sealed_at


def _display(text: str, archives: list[dict[str, Any]] = ()) -> tuple[str, int]:
    # An IOC archive is shown once, as its size and digest; its base64 would fill the page twice.
    for archive in archives:
        text = text.replace(archive["base64"], str(_("<the ZIP archive above, in base64>")))
    if len(text) <= PREVIEW_DISPLAY_LIMIT:
        return text, 0
    return text[:PREVIEW_DISPLAY_LIMIT], len(text) - PREVIEW_DISPLAY_LIMIT


@dataclass(frozen=True)
class Preview:
    add_incident: str  # the AddIncident call's arguments as the Open API encodes them
    add_incident_hidden: int  # characters not shown
    envelope: str  # KLINCDT_BODY decoded, for reading
    envelope_hidden: int
    update_incident: str
    description: str
    approvals_required: int
    changes_endpoint: bool
    consequence: str = ""  # one sentence: what happens to the host, in words
    archives: tuple[dict[str, Any], ...] = ()  # IOC archives: field label, file name, size, sha256


def _archives(task: catalog.TaskType, params: Any, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    names = names or {}
    found = []
    for spec in task.fields:
        value = params.get(spec.name) if isinstance(params, dict) else None
        if catalog.field_kind(spec) == catalog.IOC_ZIP and isinstance(value, str) and value:
            found.append(
                {
                    "label": spec.label,
                    "file_name": catalog.archive_file_name(names.get(spec.name, "")),
                    **catalog.ioc_archive_summary(value),
                    "base64": value,
                }
            )
    return found


def preview(filing: Filing, now: dt.datetime | None = None) -> Preview:
    """Exactly what the submission job sends for this request (KLINCDT_ADDED is set when it runs)."""
    task = catalog.TASKS[filing.task]
    archives = _archives(task, filing.params, filing.archive_names)
    calls = payload.calls_json(filing.task, filing.target_host, filing.params, payload.incident_time(now))
    add_incident, add_hidden = _display(json.dumps(calls["AddIncident"], indent=2, ensure_ascii=False), archives)
    envelope, envelope_hidden = _display(
        json.dumps(payload.build_envelope(filing.task, filing.target_host, filing.params), indent=2, ensure_ascii=False),
        archives,
    )
    update = json.dumps(calls["UpdateIncident"], indent=2, ensure_ascii=False)
    return Preview(
        add_incident=add_incident,
        add_incident_hidden=add_hidden,
        envelope=envelope,
        envelope_hidden=envelope_hidden,
        update_incident=update,
        description=task.describe(filing.params),
        approvals_required=catalog.approvals_required(filing.task, filing.params),
        changes_endpoint=task.changes_endpoint(filing.params),
        consequence=consequences.sentence(filing.task, filing.params, filing.target_host_name or filing.target_host),
        archives=tuple(archives),
    )
