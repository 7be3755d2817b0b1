"""The portal's web forms, a module per concern; nothing here decides who may do what (responses.policy does).

- ``new_request``: the new-request form, derived from the task catalog, and its carried IOC archives;
- ``prefill``: where a new-request form starts (a link, a kept draft, a sealed preview);
- ``previews``: what KSC will get, and the signed preview that carries it to filing;
- ``task_choice``: what the task chooser says about each task's approval;
- ``words``: validation messages with the internal names they quote as the page's labels.

The names other modules use are re-exported here (``from responses.forms import NewRequestForm``).
"""

from responses.forms.new_request import (
    CARRIED_NAME_SUFFIX,
    CARRIED_SUFFIX,
    PARAMS_PREFIX,
    SCAN_PREFIX,
    STORED_PREFIX,
    Filing,
    NewRequestForm,
    Prefill,
    RequestForm,
    archives_from_references,
    carried_reference,
    params_form_class,
    parse_carried_reference,
    scan_formset_class,
)
from responses.forms.prefill import filing_as_form_data
from responses.forms.previews import (
    PREVIEW_DISPLAY_LIMIT,
    PREVIEW_MAX_AGE,
    PREVIEW_SALT,
    Preview,
    preview,
    seal,
    unseal,
)
from responses.forms.task_choice import ApprovalRule, approval_rule
from responses.forms.words import in_words

__all__ = [
    "CARRIED_NAME_SUFFIX",
    "CARRIED_SUFFIX",
    "PARAMS_PREFIX",
    "PREVIEW_DISPLAY_LIMIT",
    "PREVIEW_MAX_AGE",
    "PREVIEW_SALT",
    "SCAN_PREFIX",
    "STORED_PREFIX",
    "ApprovalRule",
    "Filing",
    "NewRequestForm",
    "Prefill",
    "Preview",
    "RequestForm",
    "approval_rule",
    "archives_from_references",
    "carried_reference",
    "filing_as_form_data",
    "in_words",
    "params_form_class",
    "parse_carried_reference",
    "preview",
    "scan_formset_class",
    "seal",
    "unseal",
]
