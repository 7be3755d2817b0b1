"""What can go wrong when the portal talks to KSC, as types the jobs and views can act on.

Every error says in plain words what happened, for the SOC analyst who reads it
on a failed request, and keeps what KSC itself said (code, module, message).
``retryable`` tells the submission job whether trying again later can help;
``outcome_unknown`` tells it that the call may have been carried out although
no answer came back, so it must look for the incident before adding it again.

No error ever holds the KSC password or a session token.
"""

from __future__ import annotations

import re
from typing import Any


def _rebuild(cls: type[KscError], args: tuple, state: dict) -> KscError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class KscError(Exception):
    """Base of every KSC failure. ``str(error)`` is a sentence an analyst understands.

    ``server``: the name of the KSC server (KscConfig.name) whose client raised it; the client
    sets it, and names the server in the message too when it is not the one called ``primary``.
    """

    retryable = False
    kind = "error"
    server: str | None = None

    def __init__(self, message: str, *, method: str | None = None):
        super().__init__(message)
        self.method = method

    def name_server(self, name: str) -> None:
        """Say which server this happened on (once: an error from a hop keeps the first name)."""
        if self.server is not None:
            return
        self.server = name
        if name != "primary" and self.args:
            self.args = (f"{self.args[0]} [KSC server {name!r}]", *self.args[1:])

    @property
    def outcome_unknown(self) -> bool:
        return False

    def __reduce__(self):
        # Keyword-only attributes survive pickling (RQ and the audit trail may store errors).
        return (_rebuild, (self.__class__, self.args, dict(self.__dict__)))

    def details(self) -> dict[str, Any]:
        """A JSON-serialisable summary for submission attempts and the audit trail."""
        return {
            "kind": self.kind,
            "message": str(self),
            "method": self.method,
            "retryable": self.retryable,
            "outcome_unknown": self.outcome_unknown,
            "server": self.server,
        }


class KscUnavailable(KscError):
    """KSC could not be reached, timed out, dropped the connection or answered 5xx: try again later.

    ``outcome_unknown`` is true when the request may have reached KSC (a read
    timeout, a connection dropped after sending, a 5xx answer): a repeated
    AddIncident could then create a second incident.
    """

    retryable = True
    kind = "unavailable"

    def __init__(
        self, message: str, *, method: str | None = None, status: int | None = None, outcome_unknown: bool = False
    ):
        super().__init__(message, method=method)
        self.status = status
        self._outcome_unknown = outcome_unknown

    @property
    def outcome_unknown(self) -> bool:
        return self._outcome_unknown

    def details(self) -> dict[str, Any]:
        return {**super().details(), "status": self.status}


class KscTlsError(KscError):
    """KSC's TLS certificate was not accepted. Retrying cannot help: the configuration must change."""

    kind = "tls"


class KscAuthError(KscError):
    """KSC refused the portal's account (or refused a fresh session right after logging in)."""

    kind = "auth"

    def __init__(self, message: str, *, method: str | None = None, status: int | None = None):
        super().__init__(message, method=method)
        self.status = status

    def details(self) -> dict[str, Any]:
        return {**super().details(), "status": self.status}


class KscSessionRefused(KscAuthError):
    """KSC refused a call again right after a fresh login: a KSC that ends sessions early or is restarting.

    Retryable: the call was refused, so it did not run, and a later fresh login may hold.
    """

    retryable = True
    kind = "session"


class KscGatewayRefused(KscAuthError):
    """The primary refused the ``KSCGW`` login to a secondary (the one-time key expired, was used, or the
    secondary did not answer). Retryable: the next try prepares a new key."""

    retryable = True
    kind = "gateway"


class KscMfaRequired(KscAuthError):
    """KSC requires two-factor authentication of the portal's account (401 ``WWW-Authenticate: KSCMFA``)."""

    kind = "mfa"


class KscCallError(KscError):
    """KSC carried out the call and refused it with a ``PxgError``; its code and text are kept."""

    kind = "ksc"

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        code: int | None = None,
        subcode: int | None = None,
        module: str | None = None,
        ksc_message: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ):
        super().__init__(message, method=method)
        self.code = code
        self.subcode = subcode
        self.module = module
        self.message = ksc_message
        self.file = file
        self.line = line

    @classmethod
    def from_pxg_error(cls, method: str, pxg: Any) -> KscCallError:
        """From the ``PxgError`` object of an answer (docs/ksc-wire.md, section 5)."""
        if not isinstance(pxg, dict):
            return cls(f"KSC refused {method}: {excerpt(str(pxg))}", method=method, ksc_message=str(pxg))
        code = pxg.get("code") if isinstance(pxg.get("code"), int) else None
        subcode = pxg.get("subcode") if isinstance(pxg.get("subcode"), int) else None
        module = pxg.get("module") if isinstance(pxg.get("module"), str) else None
        text = _localized(pxg.get("locdata")) or (pxg.get("message") if isinstance(pxg.get("message"), str) else None)
        where = f"error {code}" if code is not None else "an error"
        if module:
            where += f" ({module})"
        sentence = f"KSC refused {method}: {where}"
        if text:
            sentence += f": {excerpt(text)}"
        return cls(
            sentence,
            method=method,
            code=code,
            subcode=subcode,
            module=module,
            ksc_message=text,
            file=pxg.get("file") if isinstance(pxg.get("file"), str) else None,
            line=pxg.get("line") if isinstance(pxg.get("line"), int) else None,
        )

    def details(self) -> dict[str, Any]:
        return {
            **super().details(),
            "code": self.code,
            "subcode": self.subcode,
            "module": self.module,
            "ksc_message": self.message,
        }


class KscProtocolError(KscError):
    """KSC answered something the portal does not understand (not JSON, a missing value, an odd status)."""

    kind = "protocol"

    def __init__(self, message: str, *, method: str | None = None, status: int | None = None):
        super().__init__(message, method=method)
        self.status = status

    def details(self) -> dict[str, Any]:
        return {**super().details(), "status": self.status}


def _localized(locdata: Any) -> str | None:
    """KSC's localised text: ``format`` with ``%1 %2`` filled from ``args``, as KlAkOAPI renders it."""
    if not (isinstance(locdata, dict) and locdata.get("type") == "params" and isinstance(locdata.get("value"), dict)):
        return None
    value = locdata["value"]
    template = value.get("format")
    if not isinstance(template, str) or not template:
        return None
    args = value.get("args") if isinstance(value.get("args"), list) else []

    def fill(match: re.Match) -> str:
        index = int(match.group(1)) - 1
        return str(args[index]) if 0 <= index < len(args) else ""

    return re.sub(r"%(\d+)", fill, template)


def excerpt(text: str, limit: int = 300) -> str:
    """One line of at most ``limit`` characters: KSC's texts end up in pages and logs."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
