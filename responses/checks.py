"""System checks of the requests' settings: per-task variables must name a task type.

The settings import no app code (portal/settings.py reads ``APPROVALS_REQUIRED_<TASK>`` and
``APPROVAL_SLA_<TASK>`` for any suffix); these checks, which know the catalog, refuse a suffix that
is no task type. Django runs them before every management command (migrate, the workers,
runserver) and ``manage.py check``; an error stops the command with a non-zero exit.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

from responses import catalog

PER_TASK = (
    ("APPROVALS_REQUIRED_BY_TASK", "APPROVALS_REQUIRED_", "responses.E001"),
    ("APPROVAL_SLA_BY_TASK", "APPROVAL_SLA_", "responses.E002"),
)


@register("responses")
def per_task_variables_name_task_types(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    for setting, prefix, check_id in PER_TASK:
        unknown = catalog.unknown_task_keys(getattr(settings, setting, {}))
        if unknown:
            errors.append(
                Error(
                    f"{', '.join(prefix + key.upper() for key in unknown)}: no such task type; use one of "
                    + ", ".join(prefix + name.upper() for name in catalog.TASK_NAMES),
                    hint="Rename or remove the variable; the task types are listed in README, Configuration.",
                    id=check_id,
                )
            )
    return errors
