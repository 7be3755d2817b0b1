"""What a finished task did, in words (issue 30, point 3): more than "Completed".

From what the portal knows: the request's own parameters and the outcome KSC's task history gave
(responses/outcomes.py: its state and ``reason``, KSC's ``state_descr``). KSC documents no field
saying whether an IOC scan found indicators, nor whether it isolated the host: a line says so ("KSC
does not say") rather than guess, and quotes KSC where its history gave words.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from responses.models import OutcomeState, OutcomeView, ResponseRequest

DONE = (OutcomeState.COMPLETED, OutcomeState.WARNING)


def result_lines(rr: ResponseRequest, outcome: OutcomeView | None) -> list[tuple[str, str]]:
    """(label, text) lines for the request page's outcome, once the task finished on the host; [] before."""
    if outcome is None or outcome.state not in DONE:
        return []
    lines: list[tuple[str, str]] = []
    params = rr.params if isinstance(rr.params, dict) else {}
    if outcome.state == OutcomeState.WARNING and not outcome.reason:
        lines.append((_("The warning"), _("KSC gave no reason for the warning: its task history names none.")))
    if rr.task == "iocScan":
        lines.append((_("Indicators found"), _ioc_found(outcome)))
        lines.append((_("Isolated the host"), _ioc_isolated(params)))
    elif rr.task == "getFile":
        lines.append(
            (
                _("Where the copy is"),
                _(
                    "KES sent the copy of the file to KSC: it is in the host's KSC repository on server %(server)s "
                    "(KSC Web Console: Operations > Repositories). Someone with access to KSC downloads it from "
                    "there; the portal does not hold it."
                )
                % {"server": rr.server},
            )
        )
    return lines


def _ioc_found(outcome: OutcomeView) -> str:
    if outcome.reason:
        return _("KSC's task history says: %(words)s") % {"words": outcome.reason}
    return _(
        "KSC does not say: its task history tells that the scan finished, not what it found. "
        "See the host's events in KSC."
    )


def _ioc_isolated(params: dict) -> str:
    if not params.get("isolateHost"):
        return _("No: the scan was not set to isolate the host.")
    return _(
        "Only if it found indicators, and KSC does not say whether it did: look at the host's network "
        "isolation in KSC (an isolation set by the scan ends by KES policy)."
    )
