"""The new-request form, derived from the task catalog: no task has a hand-written form.

A task's params become a Django form built from ``TaskType.fields`` (a formset
of rows for onDemandScan's array); the catalog then validates what the form
collected, and its errors are put back next to the fields they name. Nothing
here decides who may do what: that is responses.policy's job.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from responses import catalog, ioc_store, isolation, workflow
from responses.forms.words import in_words

PARAMS_PREFIX = "params"


SCAN_PREFIX = "scan"


# The hidden field that keeps an uploaded IOC archive (base64) across a redisplay of the form:
# a browser never refills a file input, and nobody should have to attach the archive twice.
CARRIED_SUFFIX = "__carried"


# Beside it, the uploaded file's name (catalog.archive_file_name), shown with the size and digest.
CARRIED_NAME_SUFFIX = "__carried_name"


# What the page carries instead of the base64 (responses/views/new_request.py): "stored:<sha256>:<size>", the archive
# kept server-side for this user (responses/ioc_store.py); the view puts the archive back before the form.
STORED_PREFIX = "stored:"


def carried_reference(digest: str, size: int) -> str:
    return f"{STORED_PREFIX}{digest}:{size}"


def parse_carried_reference(value: Any) -> tuple[str, int] | None:
    """(sha256, size) of a carried reference; None when ``value`` is not one."""
    if not isinstance(value, str) or not value.startswith(STORED_PREFIX):
        return None
    digest, _sep, size = value[len(STORED_PREFIX) :].partition(":")
    if not re.fullmatch(r"[0-9a-f]{64}", digest) or not size.isdigit() or len(size) > 12:
        return None
    return digest, int(size)


def _form_field(spec: catalog.Field, *, in_row: bool = False) -> forms.Field:
    """The Django form field for one catalog field. Checks beyond the field's type are the catalog's."""
    common: dict[str, Any] = {"label": spec.label, "help_text": spec.help_text}
    if spec.kind == catalog.BOOL:
        return forms.BooleanField(required=False, **common)
    if spec.kind == catalog.CHOICE:
        # An explicit "choose" entry: a select that starts on a real value (isolation off!)
        # would let an analyst file the opposite of what they meant without noticing.
        if not in_row:
            # Outside a row, a few plain choices in words (isolate / end isolation), none preselected;
            # the catalog's help text speaks in wire values (1/0) for the API, not here.
            common["help_text"] = ""
            return forms.TypedChoiceField(
                choices=list(spec.choices.items()),
                coerce=int,
                empty_value=None,
                required=spec.must_be_given,
                widget=forms.RadioSelect,
                **common,
            )
        choices = [("", _("— choose —")), *spec.choices.items()]
        return forms.TypedChoiceField(choices=choices, coerce=int, empty_value=None, required=False, **common)
    if catalog.field_kind(spec) == catalog.IOC_ZIP:
        common["help_text"] = _("A ZIP archive of IOC files, at most 10 MiB; the portal encodes it for KSC.")
        return forms.FileField(required=False, **common)
    widget = forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})
    required = spec.must_be_given and not spec.allow_empty and not in_row
    return forms.CharField(required=required, max_length=catalog.MAX_STRING, widget=widget, **common)


def _raw_value(spec: catalog.Field, value: Any) -> tuple[bool, Any]:
    """(present, value) as the catalog expects it from a form's cleaned value."""
    if spec.kind == catalog.BOOL:
        return True, bool(value)
    if spec.kind == catalog.CHOICE:
        return (value is not None), value
    return True, value if value is not None else ""


def _is_empty_row(cleaned: dict[str, Any]) -> bool:
    return not any(value not in (None, "", False) for value in cleaned.values())


def params_form_class(task: catalog.TaskType) -> type[forms.Form]:
    fields: dict[str, forms.Field] = {}
    for spec in task.fields:
        fields[spec.name] = _form_field(spec)
        if catalog.field_kind(spec) == catalog.IOC_ZIP:
            fields[spec.name + CARRIED_SUFFIX] = forms.CharField(required=False, widget=forms.HiddenInput)
            fields[spec.name + CARRIED_NAME_SUFFIX] = forms.CharField(required=False, widget=forms.HiddenInput)
    return type(f"{task.name}ParamsForm", (forms.Form,), fields)


def scan_formset_class(task: catalog.TaskType) -> type[forms.BaseFormSet]:
    """onDemandScan's array as a fixed number of rows; rows left empty are ignored (no JS needed)."""
    row = type(
        f"{task.name}RowForm", (forms.Form,), {spec.name: _form_field(spec, in_row=True) for spec in task.fields}
    )
    return forms.formset_factory(
        row,
        extra=catalog.MAX_SCAN_OBJECTS,
        max_num=catalog.MAX_SCAN_OBJECTS,
        absolute_max=catalog.MAX_SCAN_OBJECTS,
        validate_max=True,
    )



def _preset_words(hours: int) -> str:
    return ngettext("%(hours)d hour after it takes effect", "%(hours)d hours after it takes effect", hours) % {
        "hours": hours
    }


# Translated when shown, in the reader's language (a label built at import would stay English).
_preset_label = lazy(_preset_words, str)

class RequestForm(forms.Form):
    """What every request has besides its params: the target host, why, and an external reference."""

    # The KSC server that holds the host (issue 26): hidden while the user works on one server, a
    # choice of theirs otherwise (NewRequestForm.offer_servers); the workflow refuses any other.
    server = forms.CharField(
        label=_("KSC server"),
        required=False,
        max_length=32,
        help_text=_("The KSC server that holds the host. The host search fills it in."),
        widget=forms.HiddenInput,
    )
    target_host = forms.CharField(
        label=_("KSC host id"),
        max_length=catalog.MAX_HOST_ID,
        help_text=_("KSC's internal id of the host (KLHST_WKS_HOSTNAME). Find the host above, or type its id."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    # Filled by the host search from KSC's answer; shown to approvers beside the id.
    target_host_name = forms.CharField(required=False, max_length=255, widget=forms.HiddenInput)
    justification = forms.CharField(
        label=_("Justification"),
        max_length=workflow.MAX_JUSTIFICATION,
        help_text=_("Why this response is needed: approvers and auditors read it."),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    external_ref = forms.CharField(
        label=_("External reference"),
        required=False,
        max_length=workflow.MAX_EXTERNAL_REF,
        help_text=_("Optional: a ticket or SIEM alert id."),
    )
    # A protected host (responses/protected.py) acted on on purpose: permission, this reason, one more approver.
    override_reason = forms.CharField(
        label=_("Act on this protected host, because"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "Only for a protected host, and only with the protected-host override permission; "
            "one more approver is then needed."
        ),
    )

    # An isolation's end (responses/isolation.py): used only when the request isolates (isolateHost, action 1).
    isolation_end = forms.ChoiceField(
        label=_("Isolation ends"),
        required=False,
        choices=[
            *[(str(hours), _preset_label(hours)) for hours in isolation.PRESET_HOURS],
            ("until", _("at a date and time")),
            ("released", _("until released (say why)")),
        ],
        help_text=_("For an isolation: when the portal releases the host again. Approvers approve the end with it."),
    )
    isolate_until_local = forms.CharField(
        label=_("Ends at (date and time)"),
        required=False,
        max_length=32,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    time_zone = forms.CharField(
        label=_("Time zone"),
        required=False,
        max_length=64,
        help_text=_("The date and time above are in this time zone (your browser's, e.g. Asia/Tokyo); stored in UTC."),
        widget=forms.TextInput(attrs={"data-browser-time-zone": "", "autocomplete": "off", "spellcheck": "false"}),
    )
    until_released_reason = forms.CharField(
        label=_("Why until released"),
        required=False,
        max_length=isolation.MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["isolation_end"].initial = str(settings.ISOLATION_DEFAULT_HOURS)
        if str(settings.ISOLATION_DEFAULT_HOURS) not in dict(self.fields["isolation_end"].choices):
            self.fields["isolation_end"].choices = [
                (str(settings.ISOLATION_DEFAULT_HOURS), _preset_label(settings.ISOLATION_DEFAULT_HOURS)),
                *self.fields["isolation_end"].choices,
            ]

    def clean_target_host(self) -> str:
        try:
            return catalog.clean_target_host(self.cleaned_data["target_host"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def end(self) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """(the end as responses.isolation.clean_end takes it, errors by this form's field names)."""
        data = self.cleaned_data
        choice = data.get("isolation_end") or str(settings.ISOLATION_DEFAULT_HOURS)
        zone = data.get("time_zone", "")
        if choice == "released":
            return {"isolate_until": None, "until_released_reason": data.get("until_released_reason", "")}, {}
        if choice == "until":
            try:
                until = isolation.local_until(data.get("isolate_until_local", ""), zone)
            except ValueError as exc:
                field = "time_zone" if zone and "time zone" in str(exc).lower() else "isolate_until_local"
                return {}, {field: [str(exc)]}
            return {"isolate_until": until.isoformat(), "time_zone": zone}, {}
        return {"isolate_hours": choice, "time_zone": zone}, {}


# The end's errors (responses.isolation) by the form field they belong to.
END_FIELD_OF = {
    "isolate_hours": "isolation_end",
    "isolate_until": "isolate_until_local",
    "until_released_reason": "until_released_reason",
    "time_zone": "time_zone",
}


def end_as_form(end: Any) -> dict[str, str]:
    """A sealed filing's end as the form's fields (to change it after the preview)."""
    if not isinstance(end, dict) or not end:
        return {}
    if "isolate_until" in end and end["isolate_until"] is None:
        return {"isolation_end": "released", "until_released_reason": str(end.get("until_released_reason") or "")}
    if end.get("isolate_until"):
        zone = str(end.get("time_zone") or "")
        try:
            local = isolation.parse_until(end["isolate_until"]).astimezone(isolation.zone(zone))
        except ValueError:
            return {"isolation_end": "until", "time_zone": zone}
        return {"isolation_end": "until", "isolate_until_local": f"{local:%Y-%m-%dT%H:%M}", "time_zone": zone}
    return {"isolation_end": str(end.get("isolate_hours") or ""), "time_zone": str(end.get("time_zone") or "")}


@dataclass
class Filing:
    """A validated new request, as it will be given to responses.filing.file_request."""

    task: str
    target_host: str
    target_host_name: str
    params: Any
    justification: str
    external_ref: str
    # Each IOC archive's file name by its field (only for archives in params); not part of what KSC gets.
    archive_names: dict[str, str] = dataclasses.field(default_factory=dict)
    server: str = ""  # "": the user's default server (workflow.default_server)
    # An isolation's end as responses.isolation.clean_end takes it (empty for any other request).
    end: dict[str, Any] = dataclasses.field(default_factory=dict)
    override_reason: str = ""  # why a protected host is acted on all the same ("": it is not, or must not be)

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "server": self.server,
            "target_host": self.target_host,
            "target_host_name": self.target_host_name,
            "params": self.params,
            "justification": self.justification,
            "external_ref": self.external_ref,
            "archive_names": dict(self.archive_names),
            "end": dict(self.end),
            # Only when a protected host is included on purpose (file_request takes it then).
            **({"override_reason": self.override_reason} if self.override_reason else {}),
        }

    @property
    def end_words(self) -> str:
        """The end as the preview says it ("for 4 hours after it takes effect", "until 2026-12-08 09:00 Asia/Tokyo ...")."""
        cleaned, errors = isolation.clean_end(self.task, self.params, self.end)
        return "" if errors else isolation.describe_end(cleaned)


@dataclass(frozen=True)
class Prefill:
    """What an unbound new-request form shows: initial values of the common fields and of the params.

    The form has this one way to start; responses.forms.prefill makes one from a link, a kept draft
    or a sealed preview.
    """

    common: dict[str, Any] = dataclasses.field(default_factory=dict)
    params: Any = None  # a dict (one form), a list of rows (onDemandScan), or None


class NewRequestForm:
    """The new-request page for one task: the common fields, then the task's params.

    ``is_valid()`` runs the Django forms, then the catalog; ``filing`` is then what
    will be filed. Errors from the catalog and the workflow land next to their fields.
    """

    def __init__(self, task: catalog.TaskType, data: Any = None, files: Any = None, *, prefill: Prefill | None = None):
        """Bound to ``data`` (a POST), or unbound and showing ``prefill`` (responses.forms.prefill makes them)."""
        prefill = prefill if prefill is not None else Prefill()
        params_initial = prefill.params
        self.task = task
        self.common = RequestForm(data, initial=prefill.common)
        self.params_errors: list[str] = []  # about the params as a whole
        self.filing: Filing | None = None
        self._rows: list[int] = []  # catalog list index -> formset row
        self._unticked = False  # an onDemandScan row with a type but Enabled unticked
        self._archive_names: dict[str, str] = {}  # field -> the archive's file name, as _ioc_value found it
        if task.list_params:
            self.params = scan_formset_class(task)(data, prefix=SCAN_PREFIX, initial=params_initial)
        else:
            self.params = params_form_class(task)(data, files, prefix=PARAMS_PREFIX, initial=params_initial)

    @property
    def is_bound(self) -> bool:
        return self.common.is_bound

    def offer_servers(self, names: list[str]) -> None:
        """The servers this user may file on: a choice when there are several, hidden otherwise."""
        if len(names) > 1:
            choices = [("", _("Choose the host's KSC server")), *((name, name) for name in names)]
            self.common.fields["server"].widget = forms.Select(choices=choices)

    @property
    def ioc_fields(self) -> list[str]:
        return [spec.name for spec in self.task.fields if catalog.field_kind(spec) == catalog.IOC_ZIP]

    @property
    def carried(self) -> list[dict[str, Any]]:
        return [{"name": name, **info} for name in self.ioc_fields if (info := self.carried_ioc(name))]

    def carried_ioc(self, name: str) -> dict[str, Any] | None:
        """File name, size and digest of an IOC archive carried across a redisplay, for the page to say so."""
        form = self.params
        key = f"{name}{CARRIED_SUFFIX}"
        name_key = f"{name}{CARRIED_NAME_SUFFIX}"
        value = form[key].value() if form.is_bound else form.initial.get(key)
        if not value:
            return None
        file_name = form[name_key].value() if form.is_bound else form.initial.get(name_key)
        reference = parse_carried_reference(value)
        if reference is not None:  # kept server-side (responses/views/new_request.py): its digest and size
            return {"file_name": catalog.archive_file_name(file_name), "size": reference[1], "sha256": reference[0]}
        try:
            data = base64.b64decode(value, validate=True)
        except ValueError:
            return None
        return {
            "file_name": catalog.archive_file_name(file_name),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }

    def carry_by_reference(self, user) -> None:
        """Before the form is drawn: each carried archive kept server-side, the page carrying its reference.

        A redisplay (a field to correct, "Change it", the search without JavaScript) then sends a few
        dozen bytes to the browser and back, not the archive in base64.
        """
        if self.task.list_params:
            return
        for name in self.ioc_fields:
            if self.params.is_bound:
                key = f"{self.params.prefix}-{name}{CARRIED_SUFFIX}"
                value = self.params.data.get(key)
            else:
                key = f"{name}{CARRIED_SUFFIX}"
                value = (self.params.initial or {}).get(key)
            if not isinstance(value, str) or not value or parse_carried_reference(value) is not None:
                continue
            try:
                size = len(base64.b64decode(value, validate=True))
            except ValueError:
                continue
            reference = carried_reference(ioc_store.keep(user, value), size)
            if self.params.is_bound:
                self.params.data = self.params.data.copy()
                self.params.data[key] = reference
            else:
                self.params.initial = {**self.params.initial, key: reference}

    def is_valid(self) -> bool:
        common_ok = self.common.is_valid()
        params_ok = self.params.is_valid()
        raw = self._raw_params() if params_ok else None
        if raw is None:
            return False
        try:
            cleaned = catalog.clean_params(self.task.name, raw)
        except catalog.ParamErrors as exc:
            self.add_param_errors(exc.errors)
            return False
        if not common_ok or self._unticked:
            return False
        end: dict[str, Any] = {}
        if isolation.is_isolation(self.task.name, cleaned):
            end, errors = self.common.end()
            if not errors:
                errors = {END_FIELD_OF.get(key, "isolation_end"): value for key, value in isolation.clean_end(self.task.name, cleaned, end)[1].items()}
            for field, messages in errors.items():
                for message in messages:
                    self.common.add_error(field, message)
            if errors:
                return False
        data = self.common.cleaned_data
        self.filing = Filing(
            task=self.task.name,
            target_host=data["target_host"],
            target_host_name=data.get("target_host_name", ""),
            server=data.get("server", ""),
            params=cleaned,
            justification=data["justification"],
            external_ref=data.get("external_ref", ""),
            archive_names={
                name: file_name
                for name, file_name in self._archive_names.items()
                if file_name and isinstance(cleaned, dict) and cleaned.get(name)
            },
            end=end,
            override_reason=data.get("override_reason", ""),
        )
        return True

    def _raw_params(self) -> Any:
        """What the form collected, in the shape the catalog validates; None after a form error."""
        if self.task.list_params:
            self._rows = []
            items = []
            unticked = False
            for index, row in enumerate(self.params.forms):
                if _is_empty_row(row.cleaned_data):
                    continue
                if row.cleaned_data.get("type") is not None and not row.cleaned_data.get("enabled"):
                    # A row with a type but no tick is a slip, not a wish to send it disabled.
                    row.add_error("enabled", _("Tick “Enabled” to scan this object, or clear the row."))
                    unticked = True
                    continue
                item = {}
                for spec in self.task.fields:
                    present, value = _raw_value(spec, row.cleaned_data.get(spec.name))
                    if present:
                        item[spec.name] = value
                items.append(item)
                self._rows.append(index)
            self._unticked = unticked  # an error, but the other rows are still checked (all errors at once)
            return items
        raw: dict[str, Any] = {}
        ok = True
        for spec in self.task.fields:
            value = self.params.cleaned_data.get(spec.name)
            if catalog.field_kind(spec) == catalog.IOC_ZIP:
                value = self._ioc_value(spec.name, value)
                if value is None:
                    ok = ok and spec.name not in self.params.errors
                    continue
            present, value = _raw_value(spec, value)
            if present:
                raw[spec.name] = value
        return raw if ok else None

    def _ioc_value(self, name: str, upload: Any) -> str | None:
        """The uploaded ZIP, base64-encoded for KSC; or the one carried from before; or None.

        The file's name goes beside it (``_archive_names``, and the carried name field).
        """
        carried_key = f"{self.params.prefix}-{name}{CARRIED_SUFFIX}"
        if upload is None:
            carried = self.params.cleaned_data.get(name + CARRIED_SUFFIX) or None
            if carried:
                self._archive_names[name] = catalog.archive_file_name(
                    self.params.cleaned_data.get(name + CARRIED_NAME_SUFFIX)
                )
            return carried
        if upload.size > catalog.MAX_IOC_ZIP_BYTES:
            self.params.add_error(name, _("The archive is larger than 10 MiB."))
            return None
        encoded = base64.b64encode(upload.read()).decode("ascii")
        file_name = catalog.archive_file_name(upload.name)
        self._archive_names[name] = file_name
        # Keep it for a redisplay of the form (a later error elsewhere must not lose the upload).
        self.params.data = self.params.data.copy()
        self.params.data[carried_key] = encoded
        self.params.data[f"{self.params.prefix}-{name}{CARRIED_NAME_SUFFIX}"] = file_name
        return encoded

    @property
    def labels(self) -> dict[str, Any]:
        """Internal names the catalog's messages quote, and what the page calls them."""
        labels: dict[str, Any] = {spec.name: spec.label for spec in self.task.fields}
        if self.task.list_params:  # "a Folder (22)": the code is KSC's, the page says "Folder"
            labels.update({f"{label} ({code})": label for code, label in catalog.SCAN_OBJECT_TYPES.items()})
        return labels

    def add_param_errors(self, errors: dict[str, list[str]]) -> None:
        """The catalog's ParamErrors (keys "md5hash", "[2].path", "[2]", "") next to their fields, in words."""
        for key, raw_messages in errors.items():
            messages = [in_words(message, self.labels) for message in raw_messages]
            if key in self.ioc_fields and self.params.is_bound:
                # A refused archive is not "attached": the next preview must not carry it silently.
                self.params.data = self.params.data.copy()
                self.params.data[f"{self.params.prefix}-{key}{CARRIED_SUFFIX}"] = ""
                self.params.data[f"{self.params.prefix}-{key}{CARRIED_NAME_SUFFIX}"] = ""
            if self.task.list_params:
                match = re.fullmatch(r"\[(\d+)\](?:\.(\w+))?", key)
                if match and int(match.group(1)) < len(self._rows):
                    row = self.params.forms[self._rows[int(match.group(1))]]
                    field = match.group(2) if match.group(2) in row.fields else None
                    for message in messages:
                        row.add_error(field, message)
                    continue
            elif key in self.params.fields:
                for message in messages:
                    self.params.add_error(key, message)
                continue
            self.params_errors.extend(messages)

    @property
    def error_summary(self) -> list[dict[str, str]]:
        """Every error of the form, each with the id of the field it is about, for the summary at the top."""
        found: list[dict[str, str]] = []

        def add(form: forms.Form, anchor_prefix: str = "", row: int | None = None) -> None:
            for name, errors in form.errors.items():
                field = form.fields.get(name)
                label = str(field.label) if field is not None and field.label else ""
                if row is not None and label:
                    label = str(_("Row %(number)s: %(label)s") % {"number": row, "label": label})
                anchor = form[name].auto_id if field is not None else anchor_prefix
                if field is not None and isinstance(field.widget, forms.RadioSelect):
                    anchor = f"{anchor}_0"
                for message in errors:
                    found.append({"anchor": anchor or "request-form", "label": label, "message": str(message)})

        add(self.common)
        if self.task.list_params:
            for number, row in enumerate(self.params.forms, start=1):
                add(row, row=number)
            for message in self.params.non_form_errors():
                found.append({"anchor": "scan-objects", "label": "", "message": str(message)})
        else:
            add(self.params, "params")
        found.extend({"anchor": "params", "label": "", "message": str(message)} for message in self.params_errors)
        return found

    def add_workflow_errors(self, errors: dict[str, Any]) -> None:
        """workflow.InvalidRequest.errors: params nested under "params", the rest by field name."""
        for key, value in errors.items():
            if key == "params" and isinstance(value, dict):
                self.add_param_errors(value)
            elif key in END_FIELD_OF:
                for message in value:
                    self.common.add_error(END_FIELD_OF[key], message)
            elif key in self.common.fields:
                for message in value:
                    self.common.add_error(key, message)
            else:
                self.params_errors.extend(str(message) for message in value)


def archives_from_references(user, data: Any) -> tuple[Any, bool]:
    """The form's POST with each carried archive reference replaced by the archive (base64).

    (the data, whether one was gone: too old, pushed out, or not this user's; it then reads as not
    attached, and the page asks for the file again).
    """
    gone = False
    replaced = None
    for key, value in data.items():
        if not key.endswith(CARRIED_SUFFIX):
            continue
        reference = parse_carried_reference(value)
        if reference is None:
            continue
        archive = ioc_store.take(user, reference[0])
        replaced = replaced if replaced is not None else data.copy()
        replaced[key] = archive or ""
        if archive is None:
            gone = True
            replaced[key[: -len(CARRIED_SUFFIX)] + CARRIED_NAME_SUFFIX] = ""
    return (replaced if replaced is not None else data), gone
