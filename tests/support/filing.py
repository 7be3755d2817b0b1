"""Filing in tests that need a request, not KSC: responses.filing.file_request with the host's answer given here.

Every check of the one filing path runs (the right to file, the filing limit, validation, the
row lock); only the question to KSC about the host is answered by the test: the host is known
to KSC under ``target_host_name`` (so the request keeps that name, as it keeps KSC's), or, with
``host_unchecked``, KSC could not be asked and that is why. Tests about the host check itself file
against the KSC simulator (tests/test_filing.py) instead.

Without ``end``, a request is filed as the tests filed it before isolations had ends (issue 27): an
isolateHost gets no end (so no paired release) and the one-isolation-change-per-host rule is not
applied, so that tests about lists, decisions and submission may file several isolations of one
host. Tests about isolations give ``end``, or file through responses.filing.file_request directly
(tests/support/isolation.py), and get every rule.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from ksc_client.hosts import Host
from responses import filing, isolation
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


@contextmanager
def _without_isolation_ends():
    clean_end, refuse = isolation.clean_end, isolation.refuse_if_in_flight
    isolation.clean_end = lambda task, params, data, **kwargs: (None, {})
    isolation.refuse_if_in_flight = lambda *args, **kwargs: None
    try:
        yield
    finally:
        isolation.clean_end, isolation.refuse_if_in_flight = clean_end, refuse


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
    if end is None:
        with _without_isolation_ends():
            return _file(**locals())
    return _file(**locals())


def _file(
    *, user, task, target_host, params, justification, external_ref, target_host_name, source, host_unchecked,
    archive_names, server, end,
) -> ResponseRequest:  # fmt: skip
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
