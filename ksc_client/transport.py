"""The HTTPS layer both KSC backends share: one kept-alive connection, timeouts, TLS, error typing.

Why a session of our own, even under KlAkOAPI (docs/ksc-wire.md, section 10):

- KSC binds a ``login`` to the TCP/TLS connection, so one connection is kept
  and calls on it are strictly sequential (a one-connection pool).
- ``trust_env`` is off: with it on, requests replaces ``verify=True`` by
  ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` on every call that does not pass
  ``verify`` (KlAkOAPI passes it on the login only). That breaks verification
  against KSC's own certificate and opens a new, unauthenticated connection.
  It would also pick up ~/.netrc credentials and proxy variables.
- Neither requests nor KlAkOAPI sets a timeout; a KSC that accepts and never
  answers would hold a worker for ever.
"""

from __future__ import annotations

import json
import logging
import ssl
from pathlib import Path
from typing import Any

import requests
import urllib3

from ksc_client.errors import (
    KscAuthError,
    KscCallError,
    KscError,
    KscMfaRequired,
    KscProtocolError,
    KscTlsError,
    KscUnavailable,
    excerpt,
)

logger = logging.getLogger("ksc_client")


class KscHttpSession(requests.Session):
    """A requests session for one KSC: timeouts on every request, one connection, the environment ignored."""

    def __init__(self, *, verify: bool | str, connect_timeout: float, read_timeout: float):
        super().__init__()
        self.trust_env = False
        self.verify = verify
        self.timeouts = (connect_timeout, read_timeout)
        # The status of the last answer: KlAkOAPI raises with the body only, and
        # telling a refused session (401/403) from a failure needs the status.
        self.last_status: int | None = None
        # What a refused login said beside its plain-text body (WWW-Authenticate, X-KSC-ErrorMsg).
        self.last_headers: dict[str, str] = {}
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
        self.mount("https://", adapter)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeouts)
        self.last_status, self.last_headers = None, {}
        response = super().request(method, url, *args, **kwargs)
        self.last_status = response.status_code
        self.last_headers = {
            name: response.headers[name] for name in ("WWW-Authenticate", "X-KSC-ErrorMsg") if name in response.headers
        }
        return response


def requests_verify(verify: bool | str) -> bool | str:
    """The ``verify`` value for requests from the KSC_VERIFY setting.

    ``True`` means the system's CA store (what the operator's OpenSSL trusts,
    SSL_CERT_FILE included), not certifi's bundle that requests would use.
    """
    if verify is not True:
        return verify
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return candidate
    for candidate in (paths.capath, paths.openssl_capath):
        if candidate and Path(candidate).is_dir():
            return candidate
    return True  # no system store found: requests falls back to certifi's bundle


def describe_verify(verify: bool | str) -> str:
    if verify is False:
        return "verification off (KSC_CERT=false)"
    if verify is True:
        return "the system CA store"
    return f"KSC_CERT={verify}"


def _chain(error: BaseException):
    """The error, its causes and contexts, and exceptions held in args (urllib3 nests them)."""
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        for linked in (item.__cause__, item.__context__, getattr(item, "reason", None)):
            if isinstance(linked, BaseException):
                todo.append(linked)
        todo.extend(arg for arg in item.args if isinstance(arg, BaseException))


def _certificate_refused(error: BaseException) -> bool:
    for item in _chain(error):
        if isinstance(item, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(item):
            return True
    return False


def _never_connected(error: BaseException) -> bool:
    return any(isinstance(item, urllib3.exceptions.NewConnectionError) for item in _chain(error))


def translate_request_error(error: requests.RequestException, *, method: str, base_url: str, config: Any) -> KscError:
    """A requests failure as a typed KSC error; the message never holds headers or credentials."""
    if isinstance(error, requests.exceptions.SSLError) and _certificate_refused(error):
        return KscTlsError(
            f"KSC's TLS certificate at {base_url} was not accepted when checked against "
            f"{describe_verify(config.verify)}; set KSC_CERT to KSC's certificate file.",
            method=method,
        )
    if isinstance(error, requests.exceptions.SSLError):
        # The handshake failed for another reason (a reset, a protocol mismatch): nothing was sent.
        return KscUnavailable(f"The TLS handshake with KSC at {base_url} failed: {_reason(error)}.", method=method)
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return KscUnavailable(
            f"KSC at {base_url} did not accept a connection within {config.connect_timeout:g} s.",
            method=method,
        )
    if isinstance(error, requests.exceptions.ReadTimeout):
        return KscUnavailable(
            f"KSC did not answer {method} within {config.read_timeout:g} s; it may or may not have carried it out.",
            method=method,
            outcome_unknown=True,
        )
    if isinstance(error, requests.exceptions.ConnectionError):
        if _never_connected(error):
            return KscUnavailable(f"Cannot connect to KSC at {base_url}: {_reason(error)}.", method=method)
        return KscUnavailable(
            f"The connection to KSC broke during {method}; it may or may not have carried it out.",
            method=method,
            outcome_unknown=True,
        )
    return KscProtocolError(f"Cannot send {method} to KSC at {base_url}: {_reason(error)}.", method=method)


def _reason(error: BaseException) -> str:
    for item in _chain(error):
        if isinstance(item, OSError) and item.strerror:
            return item.strerror.lower()
    return type(error).__name__


class SessionRefused(Exception):
    """Internal: KSC answered 401/403 to a call, so the session or login is gone. The client logs in again."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def read_answer(method: str, status: int, text: str) -> dict[str, Any]:
    """The JSON object of a 200 answer; anything else raised as the right error.

    KSC's status for a PxgError is not documented, so PxgError is looked for in
    every answer; 401/403 always mean "not authenticated" whatever the body.
    """
    if status in (401, 403):
        raise SessionRefused(status)
    try:
        answer = json.loads(text) if text else None
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "PxgError" in answer:
        if status >= 500:
            error = KscCallError.from_pxg_error(method, answer["PxgError"])
            raise KscUnavailable(
                f"KSC is unavailable ({status}): {error}", method=method, status=status, outcome_unknown=True
            )
        raise KscCallError.from_pxg_error(method, answer["PxgError"])
    if status >= 500:
        raise KscUnavailable(
            f"KSC answered {method} with HTTP {status}; it may be restarting or overloaded.",
            method=method,
            status=status,
            outcome_unknown=True,
        )
    if status != 200:
        raise KscProtocolError(
            f"KSC answered {method} with HTTP {status}: {excerpt(text, 200) or 'no body'}", method=method, status=status
        )
    if not isinstance(answer, dict):
        raise KscProtocolError(
            f"KSC's answer to {method} is not a JSON object: {excerpt(text, 200) or 'empty'}", method=method, status=200
        )
    return answer


def refused_login(
    status: int, *, user: str, base_url: str, method: str, headers: dict[str, str] | None = None
) -> KscAuthError:
    """The error for a refused login; ``headers`` of the refusal tell two-factor from bad credentials.

    KSC answers a failed login with a plain-text body; 401 with ``WWW-Authenticate: KSCMFA``
    means KSC requires two-factor authentication of every user and the API account is not
    exempt. KSC 16 may explain itself in ``X-KSC-ErrorMsg``.
    """
    headers = headers or {}
    said = excerpt(headers.get("X-KSC-ErrorMsg", ""), 200)
    said = f" KSC said: {said}" if said else ""
    if "KSCMFA" in headers.get("WWW-Authenticate", ""):
        return KscMfaRequired(
            f"KSC at {base_url} requires two-factor authentication for user {user!r}: an API account cannot "
            "answer it. In KSC, add this account to the exceptions of the two-step verification requirement "
            f"(exempt the API account from KSC's two-factor requirement).{said}",
            method=method,
            status=status,
        )
    return KscAuthError(
        f"KSC at {base_url} refused the login of user {user!r} (HTTP {status}); "
        "check KSC_USER, KSC_PASSWORD, KSC_DOMAIN and KSC_INTERNAL_USER, and that the account is not locked." + said,
        method=method,
        status=status,
    )
