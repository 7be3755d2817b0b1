"""What filing a request will do to the host, in one sentence a tired analyst reads first.

The preview leads with this sentence (issue 17, point 4); the facts and the raw KSC calls follow.
Each sentence must be true for the params given: iocScan isolates or removes only *if* IOCs
are found, getFile and the scans change nothing on the host.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from responses import catalog


def _ioc_sentence(params: dict, host: str) -> str:
    then = [
        text
        for key, text in (
            ("isolateHost", _("cut it off from the network except for KSC")),
            ("quarantineObject", _("delete what is found (a copy goes to quarantine)")),
            ("scanCriticalAreas", _("scan its critical areas")),
        )
        if params.get(key)
    ]
    if not then:
        return _("%(host)s will be scanned for the IOCs in the archive; nothing else changes on it.") % {"host": host}
    return _("%(host)s will be scanned for the IOCs in the archive; only if any is found, KES will %(then)s.") % {
        "host": host,
        "then": _(", and ").join(then),
    }


def sentence(task: str, params: Any, host: str) -> str:
    """The consequence of filing ``task`` with ``params`` against the host named ``host``."""
    spec = catalog.TASKS[task]
    if task == "isolateHost":
        if params.get("action") == 1:
            return _("%(host)s will be cut off from the network except for KSC.") % {"host": host}
        return _("%(host)s will be connected to the network again (its isolation ends).") % {"host": host}
    if task == "iocScan":
        return _ioc_sentence(params, host)
    if task == "getFile":
        return _("A copy of a file will be taken from %(host)s; nothing changes on the host (%(what)s).") % {
            "host": host,
            "what": spec.describe(params),
        }
    if task == "onDemandScan":
        return _("%(host)s will be scanned for malware; nothing is removed by this request (%(what)s).") % {
            "host": host,
            "what": spec.describe(params),
        }
    return _("On %(host)s: %(what)s.") % {"host": host, "what": spec.describe(params)}
