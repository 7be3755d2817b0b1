"""The new-campaign form: the task's params (from the catalog), the hosts, why, and the overrides."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core import signing
from django.utils.translation import gettext_lazy as _

from responses import catalog
from responses.forms.new_request import params_form_class

PREVIEW_SALT = "campaigns.preview"
PREVIEW_MAX_AGE = 3600


def _raw_value(spec: catalog.Field, value: Any) -> tuple[bool, Any]:
    """(present, value) as the catalog expects it from a form's cleaned value (as the request form reads it)."""
    if spec.kind == catalog.BOOL:
        return True, bool(value)
    if spec.kind == catalog.CHOICE:
        return (value is not None), value
    return True, value if value is not None else ""


def campaign_tasks() -> list[catalog.TaskType]:
    """The tasks a campaign may carry: one set of params for every host, no IOC archive."""
    return [
        task
        for task in catalog.TASKS.values()
        if not task.list_params and not any(catalog.field_kind(spec) == catalog.IOC_ZIP for spec in task.fields)
    ]


class CampaignForm(forms.Form):
    hosts = forms.CharField(
        label=_("Hosts"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off"}),
        help_text=_("One per line: a display name, an FQDN, an IPv4 address or a KSC host id."),
    )
    host = forms.MultipleChoiceField(required=False, widget=forms.MultipleHiddenInput)  # ticked in the host search
    group = forms.CharField(
        label=_("KSC administration group"),
        required=False,
        max_length=1000,
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        help_text=_('Its path, e.g. "Managed devices/Servers": every host in it joins the campaign.'),
    )
    subgroups = forms.BooleanField(label=_("With its subgroups"), required=False)
    justification = forms.CharField(label=_("Justification"), widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)
    external_ref = forms.CharField(label=_("External reference"), required=False, max_length=255)
    override_reason = forms.CharField(
        label=_("Include protected hosts, because"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Only with the protected-host override permission; one more approver is then needed."),
    )
    break_glass = forms.BooleanField(
        label=_("Break glass: file above CAMPAIGN_MAX hosts (permission needed)"), required=False
    )

    def __init__(self, task: catalog.TaskType, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.task = task
        self.params = params_form_class(task)(*args, prefix="p", **kwargs)
        chosen = (self.data.getlist("host") if hasattr(self.data, "getlist") else self.data.get("host", [])) or []
        self.fields["host"].choices = [(value, value) for value in chosen]

    def is_valid(self) -> bool:
        return all([super().is_valid(), self.params.is_valid()])

    def inputs(self) -> dict[str, Any]:
        """What campaigns.filing.prepare takes."""
        raw: dict[str, Any] = {}
        for spec in self.task.fields:
            present, value = _raw_value(spec, self.params.cleaned_data.get(spec.name))
            if present:
                raw[spec.name] = value
        lines = [*self.cleaned_data.get("host", []), self.cleaned_data.get("hosts", "")]
        return {
            "task": self.task.name,
            "params": raw,
            "hosts": "\n".join(line for line in lines if line),
            "justification": self.cleaned_data["justification"],
            "external_ref": self.cleaned_data.get("external_ref", ""),
            "override_reason": self.cleaned_data.get("override_reason", ""),
            "break_glass": bool(self.cleaned_data.get("break_glass")),
            "group": self.cleaned_data.get("group", ""),
            "subgroups": bool(self.cleaned_data.get("subgroups")),
        }


def seal(user, inputs: dict[str, Any], fingerprint: str) -> str:
    return signing.dumps({"u": user.pk, "i": inputs, "f": fingerprint}, salt=PREVIEW_SALT, compress=True)


def unseal(user, token: str) -> tuple[dict[str, Any], str]:
    """The previewed inputs and fingerprint; signing.BadSignature when forged, expired or another user's."""
    data = signing.loads(token, salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE)
    if data.get("u") != user.pk:
        raise signing.BadSignature("another user's preview")
    return data["i"], data["f"]
