"""Where a new-request form starts: a ``Prefill`` from a link, a kept draft or a sealed preview.

The form (responses.forms.new_request.NewRequestForm) has one constructor; these functions turn
each source of values into what it takes: initial values for an unbound form (``from_query``,
``from_draft``, ``from_filing``), or a POST for a bound one (``as_posted``: a sealed filing as the
form posts it, so that errors found at filing sit next to their fields).
"""

from __future__ import annotations

from typing import Any

from responses import catalog
from responses.forms.new_request import (
    CARRIED_NAME_SUFFIX,
    CARRIED_SUFFIX,
    END_FIELD_OF,
    PARAMS_PREFIX,
    SCAN_PREFIX,
    Prefill,
    RequestForm,
    end_as_form,
)

# The common fields a link may fill in (the host search's "Use this host", "Release isolation", a copy).
LINK_FIELDS = ("server", "target_host", "target_host_name", "justification", "external_ref", *END_FIELD_OF.values())


def from_query(task: catalog.TaskType, query: Any, *, carried: bool = False) -> Prefill:
    """Initial values from a link (host search, "Release isolation"): what it names, nothing judged.

    ``carried``: the query is the form's own POST (the search without JavaScript): an IOC archive
    carried across an earlier redisplay stays attached, with its file name.
    """
    common = {key: query[key] for key in LINK_FIELDS if query.get(key)}
    params: dict[str, Any] = {}
    if not task.list_params:
        for spec in task.fields:
            value = query.get(f"{PARAMS_PREFIX}-{spec.name}")
            if catalog.field_kind(spec) == catalog.IOC_ZIP:
                archive = query.get(f"{PARAMS_PREFIX}-{spec.name}{CARRIED_SUFFIX}")
                if carried and archive:
                    params[spec.name + CARRIED_SUFFIX] = archive
                    params[spec.name + CARRIED_NAME_SUFFIX] = catalog.archive_file_name(
                        query.get(f"{PARAMS_PREFIX}-{spec.name}{CARRIED_NAME_SUFFIX}")
                    )
            elif value is not None:
                params[spec.name] = value
    return Prefill(common, params or None)


def from_draft(task: catalog.TaskType, data: dict[str, str]) -> Prefill:
    """Initial values from a kept draft (responses.drafts): what was typed, unjudged."""
    if not task.list_params:
        return from_query(task, data)
    common = {key: data[key] for key in RequestForm.base_fields if data.get(key)}
    rows: list[dict[str, str]] = []
    for index in range(catalog.MAX_SCAN_OBJECTS):
        names = {spec.name: f"{SCAN_PREFIX}-{index}-{spec.name}" for spec in task.fields}
        rows.append({name: data[key] for name, key in names.items() if data.get(key)})
    while rows and not rows[-1]:
        rows.pop()
    return Prefill(common, rows or None)


def from_filing(task: catalog.TaskType, filing: dict[str, Any]) -> Prefill:
    """Initial values showing what was previewed, to change it ("Change it" on the preview)."""
    common = {key: filing.get(key, "") for key in RequestForm.base_fields}
    common.update(end_as_form(filing.get("end")))
    params = filing.get("params")
    if task.list_params:
        return Prefill(common, params if isinstance(params, list) else None)
    params_initial = dict(params) if isinstance(params, dict) else {}
    names = _archive_names_of(filing)
    for name in [spec.name for spec in task.fields if catalog.field_kind(spec) == catalog.IOC_ZIP]:
        if name in params_initial:
            params_initial[name + CARRIED_SUFFIX] = params_initial.pop(name)
            params_initial[name + CARRIED_NAME_SUFFIX] = names.get(name, "")
    return Prefill(common, params_initial)


def as_posted(task: catalog.TaskType, filing: dict[str, Any]) -> dict[str, str]:
    """A sealed filing as the form would post it, management fields included: bind a form to it to place errors."""
    data = filing_as_form_data(task, filing)
    if task.list_params:
        data.update({f"{SCAN_PREFIX}-TOTAL_FORMS": str(catalog.MAX_SCAN_OBJECTS), f"{SCAN_PREFIX}-INITIAL_FORMS": "0"})
    return data


def filing_as_form_data(task: catalog.TaskType, filing: dict[str, Any]) -> dict[str, str]:
    """A filing (as sealed) as the new-request form posts it: the common fields, then each param's field."""
    data: dict[str, str] = {key: str(filing.get(key) or "") for key in RequestForm.base_fields}
    data.update(end_as_form(filing.get("end")))
    params = filing.get("params")
    if task.list_params:
        objects = params if isinstance(params, list) else []
        for index, item in enumerate(objects[: catalog.MAX_SCAN_OBJECTS]):
            if isinstance(item, dict):
                data.update(_field_data(task, item, f"{SCAN_PREFIX}-{index}-"))
    elif isinstance(params, dict):
        data.update(_field_data(task, params, f"{PARAMS_PREFIX}-", _archive_names_of(filing)))
    return data


def _archive_names_of(filing: dict[str, Any]) -> dict[str, str]:
    """A sealed filing's archive names (a preview sealed before names were kept has none)."""
    names = filing.get("archive_names")
    if not isinstance(names, dict):
        return {}
    return {key: catalog.archive_file_name(value) for key, value in names.items() if isinstance(key, str)}


def _field_data(
    task: catalog.TaskType, values: dict[str, Any], prefix: str, archive_names: dict[str, str] | None = None
) -> dict[str, str]:
    """Cleaned params as the form fields would post them (the inverse of _raw_value)."""
    data: dict[str, str] = {}
    for spec in task.fields:
        if spec.name not in values:
            continue
        value = values[spec.name]
        if spec.kind == catalog.BOOL:
            if value:
                data[prefix + spec.name] = "on"
        elif catalog.field_kind(spec) == catalog.IOC_ZIP:
            data[prefix + spec.name + CARRIED_SUFFIX] = str(value)
            data[prefix + spec.name + CARRIED_NAME_SUFFIX] = (archive_names or {}).get(spec.name, "")
        else:
            data[prefix + spec.name] = str(value)
    return data
