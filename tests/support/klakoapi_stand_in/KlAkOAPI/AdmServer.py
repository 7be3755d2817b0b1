"""The connection of the stand-in (see the package docstring): login as KlAkOAPI 15.1 sends it."""

import base64
import sys
from enum import Enum

import requests

from .Base import KlAkBase
from .Error import KlAkError


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class KlAkAdmServer(KlAkBase):
    class AuthType(Enum):
        BASIC_AUTH = 0
        TOKEN_AUTH = 1
        WEB_TOKEN_AUTH = 2
        GATEWAY_AUTH = 3
        NTLM_AUTH = 4

    def __init__(self, ksc_server_url, vserver="", api_ver="v1.0", auth_type=AuthType.BASIC_AUTH):
        self.ksc_server_url = ksc_server_url
        self.api_ver = f"/api/{api_ver}/"
        self.vserver = vserver
        self.auth_type = auth_type
        self.user_account = None
        self.token = None
        self.connected = False
        self.session = None

    # The private steps (name-mangled, as in KlAkOAPI: _KlAkAdmServer__SetAccount, ...__Login).
    def __SetAuthType(self, auth_type):
        self.auth_type = auth_type

    def __SetAccount(self, user_account, password, domain="", internal_user=False):
        self.user_account = _b64(user_account)
        self.password = _b64(password)
        self.domain = domain
        self.internal = bool(internal_user)

    def __SetToken(self, token):
        self.token = token

    def Call(self, path):
        return self.ksc_server_url + self.api_ver + path

    def URL(self):
        return self.ksc_server_url

    def __Login(self, verify=True):
        if self.auth_type == self.AuthType.BASIC_AUTH:
            authorization = (
                f'KSCBasic user="{self.user_account}", pass="{self.password}", '
                f'domain="{self.domain}", internal="{int(self.internal)}"'
            )
        elif self.auth_type == self.AuthType.TOKEN_AUTH:
            authorization = f"KSCT {self.token}"
        elif self.auth_type == self.AuthType.WEB_TOKEN_AUTH:
            authorization = f"KSCWT {self.token}"
        else:
            authorization = f"KSCGW {self.token}"
        headers = {"Authorization": authorization, **KlAkBase.common_headers, "X-KSC-VServer": _b64(self.vserver)}
        return self.session.post(url=self.Call("login"), headers=headers, data={}, verify=verify)

    def __Connect(self, verify=True):
        self.session = requests.Session()
        # one connection for the whole login: KSC binds the login to it
        self.session.mount("https://", requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1))
        response = self.__Login(verify)
        self.connected = response.status_code == 200
        if self.auth_type == self.AuthType.GATEWAY_AUTH:
            return None  # as KlAkOAPI: a refused gateway login raises nothing; check `connected`
        return self.ParseResponse(response.status_code, response.text, retval=False)

    @staticmethod
    def Create(url, user_account=None, password=None, domain="", internal_user=False, verify=True, vserver=""):
        if not user_account:
            if sys.platform != "win32":
                raise KlAkError("NTLM is supported on Windows platform only")
        server = KlAkAdmServer(url, vserver)
        server.__SetAuthType(KlAkAdmServer.AuthType.BASIC_AUTH)
        server.__SetAccount(user_account, password, domain, internal_user)
        server.__Connect(verify)
        return server

    @staticmethod
    def CreateByToken(url, token, verify=True, vserver=""):
        server = KlAkAdmServer(url, vserver)
        server.__SetAuthType(KlAkAdmServer.AuthType.TOKEN_AUTH)
        server.__SetToken(token)
        server.__Connect(verify)
        return server

    @staticmethod
    def CreateGateway(url, token, verify=True):
        server = KlAkAdmServer(url)
        server.__SetAuthType(KlAkAdmServer.AuthType.GATEWAY_AUTH)
        server.__SetToken(token)
        server.__Connect(verify)
        return server

    def Disconnect(self):
        if self.session is not None:
            self.session.close()
        self.connected = False
