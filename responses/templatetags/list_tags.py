"""``{% request_rows page as rows %}``: what each row of a request list shows, computed once per page.

A list page renders 50 to 100 rows; done in the template, every row looked up its labels
again (the status and task choices, eight column labels, the "1 of 2" phrase, a URL
reverse, two included templates): thousands of translation look-ups and variable
resolutions per page, most of the page's time (issue 24, point 5). Here the labels that do
not change from row to row are looked up once per page, and each row gets plain values.
benchmarks/list_render.py measures it.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.safestring import mark_safe
from django.utils.timesince import timeuntil
from django.utils.translation import get_language, gettext

from responses import catalog
from responses.models import STATUS_COLORS, ResponseRequest, Status
from responses.outcomes import OutcomeView, outcome_of

register = template.Library()

_PLACEHOLDER = uuid.UUID(int=0)
# What django.urls.reverse leaves unquoted in a path.
_SEGMENT_SAFE = RFC3986_SUBDELIMS + "/~:@"


@dataclass(frozen=True)
class RequestRow:
    rr: ResponseRequest
    url: str
    filed_iso: str
    filed: str
    task_label: str
    describe: str
    status: str
    status_label: str
    status_color: str
    outcome: OutcomeView | None
    approvals: str


def uuid_url(name: str) -> Callable[[uuid.UUID], str]:
    """``reverse(name, kwargs={"key": key})`` for each row of a page: reversed once, the key put in by each row."""
    pattern = reverse(name, kwargs={"key": _PLACEHOLDER})
    placeholder = str(_PLACEHOLDER)
    return lambda key: pattern.replace(placeholder, str(key))


def host_url() -> Callable[[str, str], str]:
    """``reverse("responses:host", ...)`` for each row of a page, each value quoted as reverse() quotes it."""
    pattern = reverse("responses:host", kwargs={"server": "server-placeholder", "host_id": "host-placeholder"})
    return lambda server, host_id: pattern.replace("server-placeholder", quote(server, safe=_SEGMENT_SAFE)).replace(
        "host-placeholder", quote(host_id, safe=_SEGMENT_SAFE)
    )


@register.simple_tag
def request_rows(page: Any) -> list[RequestRow]:
    """The page's rows with everything the table shows; the labels in the active language."""
    detail = uuid_url("responses:detail")
    status_labels = {value: str(label) for value, label in Status.choices}
    task_labels = {name: str(task.label) for name, task in catalog.TASKS.items()}
    # The same msgid as the template's blocktranslate had: the catalogue's translation is reused.
    approvals_of = gettext("%(given)s of %(required)s")
    not_needed = gettext("not needed")
    rows = []
    for rr in page.object_list:
        filed = timezone.localtime(rr.created_at)
        given = getattr(rr, "approvals_given", None)
        if given is None:
            given = rr.approvals_given_so_far()
        rows.append(
            RequestRow(
                rr=rr,
                url=detail(rr.uuid),
                filed_iso=filed.isoformat(),
                filed=filed.strftime("%Y-%m-%d %H:%M"),
                task_label=task_labels.get(rr.task, rr.task),
                describe=rr.describe(),
                status=rr.status,
                status_label=status_labels.get(rr.status, rr.status),
                status_color=STATUS_COLORS.get(Status(rr.status), "") if rr.status in status_labels else "",
                outcome=outcome_of(rr),
                approvals=(
                    approvals_of % {"given": given, "required": rr.approvals_required}
                    if rr.approvals_required
                    else not_needed
                ),
            )
        )
    return rows


@dataclass(frozen=True)
class IsolatedRow:
    item: Any  # responses.isolation.IsolatedHost
    host_url: str
    host_label: str
    since_iso: str
    since: str
    release_iso: str
    release: str
    time_left: str
    held_by: str
    request_url: str


def _local(value: dt.datetime) -> tuple[str, str]:
    """``value|date:'c'`` and ``value|date:"Y-m-d H:i T"`` as the template wrote them, without the date filter."""
    local = timezone.localtime(value)
    zone = local.tzname() or dateformat.format(local, "O")
    return local.isoformat(), local.strftime("%Y-%m-%d %H:%M ") + zone


@register.simple_tag
def isolated_rows(rows: list, now: dt.datetime) -> list[IsolatedRow]:
    """The isolated hosts' table rows ("Isolated now", the host page): URLs and dates made once per row in Python.

    Three hundred isolated hosts made the template reverse 600 URLs and format 1,200 dates
    through its filters (most of the page's time); the output is the same.
    """
    host_link, request_link = host_url(), uuid_url("responses:detail")
    due_now = gettext("due now")
    made = []
    for item in rows:
        row = item.isolation
        since_iso, since = _local(item.since) if item.since else ("", "")
        release_iso, release = _local(item.release_at) if item.release_at else ("", "")
        if item.release_at is None:
            left = ""
        elif item.release_at > now:
            left = timeuntil(item.release_at, now)
        else:
            left = due_now
        made.append(
            IsolatedRow(
                item=item,
                host_url=host_link(row.request.server, row.host_id),
                host_label=row.host_name or row.host_id,
                since_iso=since_iso,
                since=since,
                release_iso=release_iso,
                release=release,
                time_left=left,
                held_by=row.held_by,
                request_url=request_link(row.request.uuid),
            )
        )
    return made


# The auditors' list's filter fields as HTML, by what they are made of (issue 24, point 5): Django renders
# each field through its form templates (label, help, errors, widget, an include per option), 5 to 15 ms
# for the eleven fields; the unfiltered list (most visits) and every further page of a filtered one show
# the same fields again. Bounded: a new filter costs one rendering and may push out the oldest.
FILTER_FIELDS_KEPT = 256
_filter_fields: OrderedDict[tuple, str] = OrderedDict()
_filter_fields_lock = threading.Lock()


def forget_filter_fields() -> None:
    """Empty the filter fields' cache (benchmarks/list_profile.py measures the rendering without it)."""
    with _filter_fields_lock:
        _filter_fields.clear()


@register.simple_tag
def filter_fields(form: Any) -> str:
    """``{% for field in form %}<div class="field">{{ field.as_field_group }}</div>{% endfor %}``, reused.

    What the fields render depends only on the submitted values (each widget shows its value,
    validation gives the errors), the language and the time zone; the form's choices are fixed
    when the code loads (responses/filtersets.py).
    """
    data = form.data if form.is_bound else {}
    key = (
        get_language(),
        timezone.get_current_timezone_name(),
        form.is_bound,
        tuple((name, data.get(form.add_prefix(name))) for name in form.fields),
    )
    with _filter_fields_lock:
        html = _filter_fields.get(key)
        if html is not None:
            _filter_fields.move_to_end(key)
            return html
    html = mark_safe("".join(f'<div class="field">{field.as_field_group()}</div>' for field in form))  # noqa: S308
    with _filter_fields_lock:
        _filter_fields[key] = html
        while len(_filter_fields) > FILTER_FIELDS_KEPT:
            _filter_fields.popitem(last=False)
    return html
