"""``{% request_rows page as rows %}``: what each row of a request list shows, computed once per page.

A list page renders 50 to 100 rows; done in the template, every row looked up its labels
again (the status and task choices, eight column labels, the "1 of 2" phrase, a URL
reverse, two included templates): thousands of translation look-ups and variable
resolutions per page, most of the page's time (issue 24, point 5). Here the labels that do
not change from row to row are looked up once per page, and each row gets plain values.
benchmarks/list_render.py measures it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from responses import catalog
from responses.models import STATUS_COLORS, ResponseRequest, Status
from responses.outcomes import OutcomeView, outcome_of

register = template.Library()

_PLACEHOLDER = uuid.UUID(int=0)


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


@register.simple_tag
def request_rows(page: Any) -> list[RequestRow]:
    """The page's rows with everything the table shows; the labels in the active language."""
    detail = reverse("responses:detail", kwargs={"key": _PLACEHOLDER})
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
                url=detail.replace(str(_PLACEHOLDER), str(rr.uuid)),
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
