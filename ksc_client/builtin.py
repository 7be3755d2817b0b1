"""The project's own KSC Open API client, for when Kaspersky's KlAkOAPI is not installed.

It speaks the same wire protocol (docs/ksc-wire.md, sections 2-5) but authenticates with a
connection-independent session: ``Session.StartSession`` with the KSCBasic
Authorization header returns a token, and every later call carries
``X-KSC-Session: <token>``. A dropped connection therefore does not lose the
login; a refused token (401/403) leads to one fresh StartSession.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests

from ksc_client.client import KscClient, KscConfig
from ksc_client.errors import KscProtocolError
from ksc_client.transport import (
    KscHttpSession,
    SessionRefused,
    read_answer,
    refused_login,
    requests_verify,
    translate_request_error,
)

logger = logging.getLogger("ksc_client")

# Seconds to wait for Session.EndSession when closing: leaving must not hang a worker.
END_SESSION_TIMEOUT = 2.0


class BuiltinKscClient(KscClient):
    backend = "builtin"

    def __init__(self, config: KscConfig):
        super().__init__(config)
        self._http = self._new_http()
        self._token: str | None = None

    def _new_http(self) -> KscHttpSession:
        return KscHttpSession(
            verify=requests_verify(self.config.verify),
            connect_timeout=self.config.connect_timeout,
            read_timeout=self.config.read_timeout,
        )

    def _post(
        self, method: str, args: dict[str, Any] | None, headers: dict[str, str], **kwargs: Any
    ) -> requests.Response:
        url = f"{self.config.base_url}/api/v1.0/{method}"
        # json.dumps's ASCII escaping, as KlAkOAPI sends it: the body is plain ASCII (a login's is empty).
        body = json.dumps(args).encode("ascii") if args is not None else b""
        try:
            return self._http.post(url, data=body, headers={"Content-Type": "application/json", **headers}, **kwargs)
        except requests.RequestException as error:
            raise translate_request_error(
                error, method=method, base_url=self.config.base_url, config=self.config
            ) from error

    def _login(self) -> None:
        if self.config.route:
            self._gateway_login()
            return
        method = "Session.StartSession"
        self._token = None
        response = self._post(
            method,
            {},
            {"Authorization": self.config.authorization_header(), "X-KSC-VServer": self.config.vserver_header()},
        )
        try:
            answer = read_answer(method, response.status_code, response.text)
        except SessionRefused as refused:
            raise refused_login(
                refused.status,
                user=self.config.user,
                base_url=self.config.base_url,
                method=method,
                headers=self._http.last_headers,
            ) from None
        token = answer.get("PxgRetVal")
        if not isinstance(token, str) or not token:
            raise KscProtocolError(f"KSC's answer to {method} holds no session token.", method=method)
        self._token = token

    def _gateway_login(self) -> None:
        """A secondary: ``login`` at the PRIMARY's URL with ``Authorization: KSCGW <key>`` (a new key each time).

        Bound to the connection, as KlAkOAPI's CreateGateway does (whether Session.StartSession takes a
        gateway key is not documented): later calls go on the same kept-alive connection without a
        session header; a lost connection is a refused call, and the next login prepares a new key.
        """
        self._token = None
        self._http.close()
        self._http = self._new_http()
        key = self.gateway_key()
        method = "login"
        response = self._post(method, None, {"Authorization": f"KSCGW {key}", "X-KSC-VServer": ""})
        if response.status_code != 200:
            raise self.gateway_refused(response.status_code, method)

    def _send(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        headers = {"X-KSC-Session": self._token} if self._token else {}
        response = self._post(method, args, headers)
        return read_answer(method, response.status_code, response.text)

    def _logout(self) -> None:
        token, self._token = self._token, None
        if token:
            try:
                self._post(
                    "Session.EndSession",
                    {},
                    {"X-KSC-Session": token},
                    timeout=(min(self.config.connect_timeout, END_SESSION_TIMEOUT), END_SESSION_TIMEOUT),
                )
            except Exception as error:  # leaving must never fail; KSC ends idle sessions itself
                logger.info("Could not end the KSC session: %s", error)
        self._http.close()
        self._http = self._new_http()
