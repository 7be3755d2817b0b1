"""A stand-in for Kaspersky's KlAkOAPI package, for the test suite only (issue 25, point 3).

This is NOT Kaspersky's code: it is written for this project from KlAkOAPI 15.1's
public interface, so that the contract tests of the portal's ``klakoapi`` client
(ksc_client/klakoapi.py) run in CI against the simulator over HTTPS when the
real package (shipped with KSC, installed by hand) is absent. The real package
wins whenever it is importable: tests/settings.py puts this folder on
``sys.path`` only after ``import KlAkOAPI`` failed.

What it copies of KlAkOAPI's interface, and nothing more:

- module and class names: ``KlAkOAPI.AdmServer.KlAkAdmServer``, ``KlAkOAPI.HostGroup.KlAkHostGroup``,
  ``ChunkAccessor``, ``Tasks``, ``EventProcessing``, ``ServerHierarchy``, ``CgwHelper``,
  ``AsyncActionStateChecker``,
  ``GatewayConnection``, ``Base`` (``KlAkBase``, ``KlAkResponse``), ``Error``
  (``KlAkError``, ``KlAkResponseError``), ``Params`` (``KlAkParams``, ``KlAkArray``,
  ``KlAkParamsEncoder``, ``paramParams``);
- the connection: ``KlAkAdmServer(url, vserver='')``, ``Create(url, user_account, password,
  domain='', internal_user=False, verify=True, vserver='')``, ``CreateByToken``,
  ``CreateGateway(url, token, verify=True)`` (no vserver), the name-mangled ``__SetAccount`` and
  ``__Login`` steps the portal's client uses, ``session`` (a requests session), ``connected``
  (False after a refused login, which raises nothing for a gateway login), ``Disconnect()``;
- the login request: ``POST <url>/api/v1.0/login`` with ``Authorization: KSCBasic user="<b64>",
  pass="<b64>", domain="...", internal="0|1"`` (or ``KSCT``/``KSCGW <token>``) and
  ``X-KSC-VServer: <b64 of the name>``;
- each method: keyword names as KlAkOAPI 15.1 spells them (``pData``, ``strFilter``,
  ``wstrFilter``...), every one required, a POST of ``{name: value}`` as JSON to
  ``<url>/api/v1.0/<Class>.<Method>``, the answer parsed as KlAkOAPI does: a non-200 status
  raises ``KlAkResponseError(text)``, a ``PxgError`` raises ``KlAkError(error)``, otherwise a
  ``KlAkResponse`` with ``.RetVal()``, ``.OutPar(name)`` and (sic) ``.respose_text``.
"""
