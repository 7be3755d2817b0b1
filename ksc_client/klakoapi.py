"""The KSC client over Kaspersky's KlAkOAPI package (operators install it from their KSC distribution).

KlAkOAPI builds and sends every call (``KlAkHostGroup``, ``KlAkChunkAccessor``);
this adapter only gives it a sound connection and types its failures.
KlAkOAPI 15.1's pitfalls (docs/ksc-wire.md, section 10) and what is done about them:

- It logs in with ``login`` bound to one kept-alive connection and never logs
  in again: on a 401/403 this adapter builds a new server object (a new login).
- It sets no timeouts: its ``session`` is replaced, before the login, by a
  KscHttpSession that has them (KlAkAdmServer.Create would log in without).
- It passes ``verify`` on the login only; with ``trust_env`` on, later calls
  would take ``REQUESTS_CA_BUNDLE`` and a new, unauthenticated connection.
  KscHttpSession has ``trust_env`` off.
- A plain dict argument is sent unwrapped: top-level params go in as
  ``KlAkParams`` built from values already encoded by ksc_client.wire.
- It raises with the body only on a non-200 answer: the session records the status.

KlAkOAPI is imported lazily: the portal runs without it.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import requests

from ksc_client.client import KscClient, KscConfig
from ksc_client.errors import KscAuthError, KscCallError, KscProtocolError, excerpt
from ksc_client.transport import (
    KscHttpSession,
    read_answer,
    refused_login,
    requests_verify,
    translate_request_error,
)

logger = logging.getLogger("ksc_client")


def klakoapi_importable() -> bool:
    """Whether Kaspersky's KlAkOAPI package (or the tests' stand-in) can be imported."""
    try:
        import KlAkOAPI.AdmServer  # noqa: F401
    except ImportError:
        return False
    return True


class KlAkOApiKscClient(KscClient):
    backend = "klakoapi"
    # KlAkAdmServer.Create logs in on a session without timeouts; the login is
    # done here with KlAkOAPI's own (name-mangled) steps on our session instead.
    # False (or a KlAkOAPI without those steps) falls back to Create.
    login_with_own_session = True

    def __init__(self, config: KscConfig):
        super().__init__(config)
        self._server: Any = None

    def _new_http(self) -> KscHttpSession:
        return KscHttpSession(
            verify=requests_verify(self.config.verify),
            connect_timeout=self.config.connect_timeout,
            read_timeout=self.config.read_timeout,
        )

    def _login(self) -> None:
        if self.config.route:
            self._gateway_login()
            return
        self._basic_login()

    def _gateway_login(self) -> None:
        """A secondary: ``KlAkAdmServer.CreateGateway(primary_url, key, verify)`` with a new key each time.

        CreateGateway raises nothing when the primary refuses the key: ``connected`` is checked.
        As for the basic login, CreateGateway's own steps run on a session with timeouts when
        this KlAkOAPI has them (``login_with_own_session``); otherwise CreateGateway itself.
        """
        from KlAkOAPI.AdmServer import KlAkAdmServer

        self._logout()
        config = self.config
        verify = requests_verify(config.verify)
        key = self.gateway_key()
        session = self._new_http()
        method = "login"
        status: int | None = None
        try:
            server = KlAkAdmServer(config.base_url)
            set_type = getattr(server, "_KlAkAdmServer__SetAuthType", None)
            set_token = getattr(server, "_KlAkAdmServer__SetToken", None)
            login = getattr(server, "_KlAkAdmServer__Login", None)
            if self.login_with_own_session and set_type and set_token and login:
                # What KlAkAdmServer.CreateGateway -> __Connect does, on our session.
                set_type(KlAkAdmServer.AuthType.GATEWAY_AUTH)
                set_token(key)
                server.session = session
                response = login(verify)
                status = response.status_code
                server.connected = status == 200
            else:
                server = KlAkAdmServer.CreateGateway(config.base_url, key, verify)
                session.mount("https://", server.session.get_adapter(config.base_url))
                server.session = session
        except requests.RequestException as error:
            session.close()
            raise translate_request_error(error, method=method, base_url=config.base_url, config=config) from error
        if not server.connected:
            session.close()
            raise self.gateway_refused(status, method)
        self._server = server

    def _basic_login(self) -> None:
        from KlAkOAPI.AdmServer import KlAkAdmServer
        from KlAkOAPI.Error import KlAkError, KlAkResponseError

        self._logout()
        config = self.config
        verify = requests_verify(config.verify)
        session = self._new_http()
        method = "login"
        try:
            server = KlAkAdmServer(config.base_url, config.vserver)
            set_account = getattr(server, "_KlAkAdmServer__SetAccount", None)
            login = getattr(server, "_KlAkAdmServer__Login", None)
            if self.login_with_own_session and set_account and login:
                # What KlAkAdmServer.Create -> __Connect does, on our session.
                set_account(config.user, config.password, config.domain, config.internal)
                server.session = session
                response = login(verify)
                server.connected = response.status_code == 200
                server.ParseResponse(response.status_code, response.text, retval=False)
            else:
                server = KlAkAdmServer.Create(
                    config.base_url,
                    config.user,
                    config.password,
                    domain=config.domain,
                    internal_user=config.internal,
                    verify=verify,
                    vserver=config.vserver,
                )
                # Keep the logged-in connection (the adapter holds its pool) but
                # move it to a session with timeouts and trust_env off.
                session.mount("https://", server.session.get_adapter(config.base_url))
                server.session = session
        except requests.RequestException as error:
            raise translate_request_error(error, method=method, base_url=config.base_url, config=config) from error
        except KlAkResponseError as error:
            session.close()
            status = session.last_status
            if status is None or status in (401, 403):
                raise refused_login(
                    status or 401,
                    user=config.user,
                    base_url=config.base_url,
                    method=method,
                    headers=session.last_headers,
                ) from None
            read_answer(method, status, _text(error.data))  # raises the error the status calls for
            raise KscProtocolError(f"KSC refused the login with HTTP {status}.", method=method) from None
        except KlAkError as error:
            session.close()
            detail = KscCallError.from_pxg_error(method, error.data)
            raise KscAuthError(f"KSC refused the login of user {config.user!r}: {detail}", method=method) from None
        except ValueError as error:  # the login answer was not JSON
            session.close()
            raise KscProtocolError(f"KSC's answer to the login is not JSON: {error}", method=method) from None
        self._server = server

    def _send(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        from KlAkOAPI.Error import KlAkError, KlAkResponseError
        from KlAkOAPI.Params import KlAkParams

        class_name, _, method_name = method.partition(".")
        module = importlib.import_module(f"KlAkOAPI.{class_name}")
        proxy = getattr(module, f"KlAk{class_name}")(self._server)
        # KlAkOAPI's method parameters carry the wire names (pData, strFilter...).
        kwargs = {name: KlAkParams(value) if isinstance(value, dict) else value for name, value in args.items()}
        session = self._server.session
        try:
            response = getattr(proxy, method_name)(**kwargs)
        except requests.RequestException as error:
            raise translate_request_error(
                error, method=method, base_url=self.config.base_url, config=self.config
            ) from error
        except KlAkError as error:
            raise KscCallError.from_pxg_error(method, error.data) from None
        except KlAkResponseError as error:
            status = getattr(session, "last_status", None)
            if status is None:
                raise KscProtocolError(
                    f"KSC refused {method}: {excerpt(_text(error.data), 200)}", method=method
                ) from None
            return read_answer(method, status, _text(error.data))  # raises: the status was not 200
        except ValueError as error:  # json.loads of a 200 answer
            raise KscProtocolError(f"KSC's answer to {method} is not JSON: {error}", method=method) from None
        answer = response.respose_text  # sic: KlAkOAPI's spelling; the decoded JSON answer
        if not isinstance(answer, dict):
            raise KscProtocolError(f"KSC's answer to {method} is not a JSON object.", method=method)
        return answer

    def _logout(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            try:
                server.Disconnect()  # closing the connection ends a connection-bound login
            except Exception as error:
                logger.info("Could not close the KSC connection: %s", error)


def _text(data: Any) -> str:
    return data if isinstance(data, str) else str(data)
