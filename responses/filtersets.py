"""The one definition of the request list's filters: the auditors' list, its CSV export and the API.

``GET /requests/``, ``GET /requests/export.csv`` and ``GET /api/v1/requests/`` all
filter through ``RequestFilterSet``: the same names mean the same rows everywhere
(tests/test_filtersets.py compares the three for every filter), and drf-spectacular
documents them in the OpenAPI schema from here.

Every filter is written for an index made for it (responses/models.py's Meta,
migration 0015_list_indexes; tests/test_paging.py checks the plans): requester
compares upper-cased, q goes through trigram indexes on PostgreSQL. The host filter's
names and ids are searched in the host directory (responses/host_directory.py, trigram over thousands
of hosts), then the requests by host id through a btree index.

Filters that do not validate give no rows (the web list shows the errors, the
CSV export and the API answer 400): never a silently wider list.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _

from responses import catalog, host_directory
from responses.models import Decision, OutcomeState, ResponseRequest, Status
from responses.outcomes import with_outcome


class DateOrDateTimeField(forms.CharField):
    """A day (``2026-11-29``) or an ISO 8601 instant (``2026-11-29T08:00:00Z``).

    A day is a whole day in the portal's time zone (TIME_ZONE); an instant without an
    offset is in that zone too. The field cleans to a ``date`` or an aware ``datetime``.
    """

    def to_python(self, value: Any) -> dt.date | dt.datetime | None:
        value = super().to_python(value).strip()
        if not value:
            return None
        try:
            day = parse_date(value)
            if day is not None:
                return day
            instant = parse_datetime(value)
        except ValueError:
            instant = None
        if instant is None:
            raise forms.ValidationError(
                _("Enter a day (YYYY-MM-DD) or a date and time in ISO 8601 (YYYY-MM-DDTHH:MM:SS+00:00)."),
                code="invalid",
            )
        return instant if timezone.is_aware(instant) else timezone.make_aware(instant)


def start_of(value: dt.date | dt.datetime) -> dt.datetime:
    """``since``: from the start of a day, or from an instant."""
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time.min, tzinfo=timezone.get_current_timezone())


def end_of(value: dt.date | dt.datetime) -> dt.datetime:
    """``until``: through the end of a day (a person means the day included), or before an instant."""
    if isinstance(value, dt.datetime):
        return value
    return start_of(value + dt.timedelta(days=1))


class DateOrDateTimeFilter(django_filters.Filter):
    field_class = DateOrDateTimeField


class RequestFilterForm(forms.Form):
    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since is not None and until is not None and start_of(since) >= end_of(until):
            self.add_error("until", _("until must be later than since."))
        return data


class RequestFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(label=_("Status"), choices=Status.choices, empty_label=_("Any status"))
    outcome = django_filters.ChoiceFilter(
        label=_("Outcome on the host"),
        choices=OutcomeState.choices,
        empty_label=_("Any outcome"),
        method="filter_outcome",
        help_text=_("The outcome on the host."),
    )
    task = django_filters.ChoiceFilter(
        label=_("Task type"),
        choices=[(name, task.label) for name, task in catalog.TASKS.items()],
        empty_label=_("Any task type"),
    )
    requester = django_filters.CharFilter(
        label=_("Requester"),
        method="filter_requester",
        max_length=150,
        help_text=_("The requester's username (exact, either case)."),
    )
    approver = django_filters.CharFilter(
        label=_("Decided by"),
        method="filter_approver",
        max_length=150,
        help_text=_("Username of an approver who approved or rejected the request (exact, either case)."),
    )
    host = django_filters.CharFilter(
        label=_("Host"),
        method="filter_host",
        max_length=catalog.MAX_HOST_ID,
        help_text=_("Part of the KSC host id, of the host's name as it was when filed, or of its FQDN (either case)."),
    )
    server = django_filters.CharFilter(
        label=_("KSC server"),
        field_name="server",
        max_length=32,
        help_text=_("The KSC server's name in the servers file (exact); only your servers' requests are listed."),
    )
    external_ref = django_filters.CharFilter(
        label=_("External reference"),
        field_name="external_ref",
        max_length=255,
        help_text=_("The SIEM's reference (exact)."),
    )
    since = DateOrDateTimeFilter(
        label=_("Filed from"),
        method="filter_since",
        help_text=_("Filed on or after: a day (YYYY-MM-DD, from its start) or an ISO 8601 date and time."),
        # Plain text, not a date picker: the help promises a date and time too, which type="date" refuses.
        widget=forms.TextInput(attrs={"placeholder": "2026-11-27", "autocomplete": "off", "spellcheck": "false"}),
    )
    until = DateOrDateTimeFilter(
        label=_("Filed to"),
        method="filter_until",
        help_text=_("Filed before an ISO 8601 date and time, or on or before a day (YYYY-MM-DD, the day included)."),
        # Plain text, not a date picker: the help promises a date and time too, which type="date" refuses.
        widget=forms.TextInput(attrs={"placeholder": "2026-11-27", "autocomplete": "off", "spellcheck": "false"}),
    )
    q = django_filters.CharFilter(
        label=_("Search"),
        method="filter_words",
        max_length=200,
        help_text=_("Words in the host's name or id, the justification or the external reference."),
    )

    class Meta:
        model = ResponseRequest
        fields: list[str] = []  # every filter is declared above
        form = RequestFilterForm

    # The web list's earlier names for since/until: saved links must not turn into an unfiltered list.
    RENAMED = {"created_from": "since", "created_to": "until"}

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any):
        if data is not None and any(old in data for old in self.RENAMED):
            data = data.copy()
            for old, new in self.RENAMED.items():
                if old in data and new not in data:
                    data[new] = data[old]
        super().__init__(data, *args, **kwargs)

    def filter_outcome(self, requests: QuerySet, name: str, value: str) -> QuerySet:
        return requests.filter(with_outcome(value))

    def filter_requester(self, requests: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return requests.filter(requester_username__iexact=value) if value else requests

    def filter_approver(self, requests: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return requests
        # Exists, not a join: a request decided by two matching rows must still appear once.
        return requests.filter(Exists(Decision.objects.filter(request=OuterRef("pk"), approver_username__iexact=value)))

    def filter_host(self, requests: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return requests
        # Matching hosts from the directory (thousands of rows, trigram), then their requests by host id or name (btree).
        return requests.filter(host_directory.request_filter(value))

    def filter_since(self, requests: QuerySet, name: str, value: dt.date | dt.datetime) -> QuerySet:
        return requests.filter(created_at__gte=start_of(value))

    def filter_until(self, requests: QuerySet, name: str, value: dt.date | dt.datetime) -> QuerySet:
        return requests.filter(created_at__lt=end_of(value))

    def filter_words(self, requests: QuerySet, name: str, value: str) -> QuerySet:
        for word in value.split():
            requests = requests.filter(
                # The request's own columns, each through its trigram index: an IN (directory) here,
                # OR-ed with the text columns, would turn the bitmap OR into a scan of every request.
                Q(target_host__icontains=word)
                | Q(target_host_name__icontains=word)
                | Q(justification__icontains=word)
                | Q(external_ref__icontains=word)
            )
        return requests

    def rows(self) -> QuerySet[ResponseRequest]:
        """The filtered requests; none at all while a filter has an error (never a silently wider list)."""
        return self.qs if self.is_valid() else self.queryset.none()
