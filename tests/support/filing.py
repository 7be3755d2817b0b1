"""Filing in tests that need a request, not KSC: responses.filing.file_request with the host's answer given here.

Every check of the one filing path runs (the right to file, the filing limit, validation, the
row lock); only the question to KSC about the host is answered by the test: the host is known
to KSC under ``target_host_name`` (so the request keeps that name, as it keeps KSC's), or, with
``host_unchecked``, KSC could not be asked and that is why. Tests about the host check itself file
against the KSC simulator (tests/test_filing.py) instead.
"""

from __future__ import annotations

from typing import Any

from ksc_client.hosts import Host
from responses import filing
from responses.hosts import HostCheck
from responses.models import ResponseRequest, Source


def known_host(name: str = "") -> Any:
    """A host check that answers: KSC knows the host, under ``name``."""

    def check(host_id: str) -> HostCheck:
        return HostCheck(Host(id=host_id, display_name=name, fqdn="", ip="", group_name="", last_seen=None))

    return check


def unchecked_host(why: str) -> Any:
    """A host check that answers: KSC could not be asked, for this reason."""

    def check(host_id: str) -> HostCheck:
        return HostCheck(None, why)

    return check


def file_request(
    *,
    user,
    task: Any,
    target_host: Any,
    params: Any,
    justification: Any,
    external_ref: Any = "",
    target_host_name: str = "",
    source: str = Source.WEB,
    host_unchecked: str = "",
    archive_names: Any = None,
    server: Any = None,
    end: Any = None,
) -> ResponseRequest:
    """The request filed (responses.filing.file_request), KSC's answer about the host given by the test."""
    return filing.file_request(
        user=user,
        task=task,
        target_host=target_host,
        params=params,
        justification=justification,
        external_ref=external_ref,
        source=source,
        archive_names=archive_names,
        server=server,
        end=end,
        host_check=unchecked_host(host_unchecked) if host_unchecked else known_host(target_host_name),
    ).request
