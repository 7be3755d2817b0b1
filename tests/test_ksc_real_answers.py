"""KSC as it really answers (docs/ksc-wire.md, sections 3, 5 and 8), and what the portal sends for it.

Login failures in plain text, 401 KSCMFA, X-KSC-ErrorMsg, PxgRetVal beside a chunk,
the lenient forms real servers accept; iocScan's OpenIOC checks and KSC_IOC_FORMAT;
preventExecution's caveat.
"""

from __future__ import annotations

import base64

import pytest
import requests

from ksc_client.errors import KscAuthError, KscMfaRequired
from responses import catalog
from responses.ksc_servers import build_client
from tests.fixtures.ksc import config_for
from tests.support.openioc import OPENIOC_11, ioc_zip_b64, openioc

IOC = {"isolateHost": False, "scanCriticalAreas": False, "quarantineObject": False}


def raw_session(simulator) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(simulator.cert_path)
    return session


def kscbasic(user: str, password: str, extra: str = "") -> str:
    b64 = base64.b64encode
    return f'KSCBasic user="{b64(user.encode()).decode()}", pass="{b64(password.encode()).decode()}"{extra}'


class TestTheSimulatorAnswersAsKscDoes:
    def test_a_failed_login_is_plain_text_not_json(self, ksc_simulator):
        response = raw_session(ksc_simulator).post(
            f"{ksc_simulator.url}/api/v1.0/login", headers={"Authorization": kscbasic("edr-portal", "wrong")}
        )
        assert response.status_code == 401
        assert response.headers["Content-Type"].startswith("text/plain")
        assert response.text == "Authentication failure"
        assert response.headers["X-KSC-ErrorMsg"] == "Authentication failure"

    def test_a_login_without_domain_internal_or_vserver_header_is_accepted(self, ksc_simulator):
        session = raw_session(ksc_simulator)
        response = session.post(
            f"{ksc_simulator.url}/api/v1.0/login",
            headers={"Authorization": kscbasic(ksc_simulator.user, ksc_simulator.password)},
        )
        assert response.status_code == 200, response.text
        # A filter without outer parentheses, FindHosts without vecFieldsToOrder and pParams.
        found = session.post(
            f"{ksc_simulator.url}/api/v1.0/HostGroup.FindHosts",
            json={"wstrFilter": 'KLHST_WKS_DN = "DC01"', "vecFieldsToReturn": ["KLHST_WKS_DN"], "lMaxLifeTime": 60},
        ).json()
        assert found["PxgRetVal"] == 1
        chunk = session.post(
            f"{ksc_simulator.url}/api/v1.0/ChunkAccessor.GetItemsChunk",
            json={"strAccessor": found["strAccessor"], "nStart": 0, "nCount": 10},
        ).json()
        assert chunk["PxgRetVal"] == 1, "GetItemsChunk counts the chunk's items in PxgRetVal"
        assert len(chunk["pChunk"]["KLCSP_ITERATOR_ARRAY"]) == 1

    def test_kscmfa_is_a_401_with_its_own_scheme(self, ksc_simulator):
        ksc_simulator.configure_tasks({"require_mfa": True})
        response = raw_session(ksc_simulator).post(
            f"{ksc_simulator.url}/api/v1.0/login",
            headers={"Authorization": kscbasic(ksc_simulator.user, ksc_simulator.password)},
        )
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "KSCMFA"


class TestTheClientsUnderstandIt:
    def test_kscmfa_says_to_exempt_the_api_account(self, ksc_simulator, backend):
        ksc_simulator.configure_tasks({"require_mfa": True})
        with (
            build_client(config_for(ksc_simulator), backend=backend) as client,
            pytest.raises(KscMfaRequired) as raised,
        ):
            client.login()
        assert "exempt the API account from KSC's two-factor requirement" in str(raised.value)
        assert not raised.value.retryable

    def test_a_bad_password_quotes_x_ksc_errormsg_and_never_the_password(self, ksc_simulator, backend):
        with build_client(config_for(ksc_simulator, password="hunter2-wrong"), backend=backend) as client:
            with pytest.raises(KscAuthError) as raised:
                client.login()
        assert not isinstance(raised.value, KscMfaRequired)
        assert "KSC said: Authentication failure" in str(raised.value)
        assert "hunter2" not in str(raised.value)


class TestOpenIoc:
    def clean(self, files: dict[str, bytes]) -> list[str] | None:
        try:
            catalog.clean_params("iocScan", {**IOC, "ioc": ioc_zip_b64(files)})
        except catalog.ParamErrors as errors:
            return errors.errors["ioc"]
        return None

    def test_openioc_10_and_11_documents_with_unique_ids_pass(self):
        assert self.clean({"a.ioc": openioc("id-1"), "b.xml": openioc("id-2", OPENIOC_11)}) is None

    def test_a_utf16_document_without_a_doctype_passes(self):
        document = openioc("id-1").decode().replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
        assert self.clean({"a.ioc": document}) is None

    @pytest.mark.parametrize(
        "files,message",
        [
            ({"rule.txt": openioc()}, "rule.txt is not an OpenIOC file (.ioc or .xml)"),
            ({"rule.ioc": b"<ioc>evil</ioc>"}, "rule.ioc is not an OpenIOC 1.0 or 1.1 document"),
            ({"rule.ioc": b"not xml at all"}, "rule.ioc is not well-formed XML"),
            ({"rule.ioc": openioc(ioc_id="")}, "rule.ioc has no id"),
            ({"a.ioc": openioc("same"), "b.ioc": openioc("same")}, "b.ioc has the same id as a.ioc"),
            (
                {
                    "rule.ioc": b'<!DOCTYPE x [<!ENTITY a "aaaa">]><ioc xmlns="http://schemas.mandiant.com/2010/ioc" id="1"/>'
                },
                "declares a DOCTYPE or entities",
            ),
            # issue 23, point 15: whatever the encoding, a document type declaration is refused
            ({"rule.ioc": '<!DOCTYPE ioc>'.encode("utf-16") + openioc().decode().split("\n", 1)[1].encode("utf-16")[2:]},
             "declares a DOCTYPE or entities"),
            (
                {"rule.ioc": ('<?xml version="1.0" encoding="utf-16"?><!DOCTYPE ioc SYSTEM "http://evil/x.dtd">'
                              '<ioc xmlns="http://schemas.mandiant.com/2010/ioc" id="1"/>').encode("utf-16-le")},
                "declares a DOCTYPE or entities",
            ),
            (
                {"rule.ioc": ('<?xml version="1.0" encoding="utf-16"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
                              '<ioc xmlns="http://schemas.mandiant.com/2010/ioc" id="1">&a;</ioc>').encode("utf-16")},
                "declares a DOCTYPE or entities",
            ),
            (
                {"rule.ioc": ('<?xml version="1.0" encoding="utf-32"?><!DOCTYPE ioc>'
                              '<ioc xmlns="http://schemas.mandiant.com/2010/ioc" id="1"/>').encode("utf-32")},
                "is not well-formed XML",  # the parser reads no UTF-32: refused all the same
            ),
            ({"big.ioc": openioc(description="x" * (2 * 1024 * 1024))}, "big.ioc is larger than 2 MiB"),
            (
                {f"r{i}.ioc": openioc(f"id-{i}", description="x" * (1900 * 1024)) for i in range(6)},
                "add up to more than 10 MiB",
            ),
        ],
    )
    def test_what_kes_cannot_read_is_refused_by_name(self, files, message):
        errors = self.clean(files)
        assert errors is not None and message in errors[0]

    def test_a_path_is_sent_when_ksc_ioc_format_is_path(self, settings):
        settings.KSC_IOC_FORMAT = "path"
        params = catalog.clean_params("iocScan", {**IOC, "ioc": "C:\\IOC\\rules.zip"})
        assert params["ioc"] == "C:\\IOC\\rules.zip"
        schema = catalog.params_json_schema("iocScan")["properties"]["ioc"]
        assert "contentEncoding" not in schema
        with pytest.raises(catalog.ParamErrors):
            catalog.clean_params("iocScan", {**IOC, "ioc": ""})


def test_prevent_execution_carries_its_caveat_wherever_it_is_filed(client, login, alice):
    assert "Execution Prevention" in str(catalog.TASKS["preventExecution"].caveat)
    login(client, alice)
    html = client.get("/requests/new/", {"task": "preventExecution"}).content.decode()
    assert "Execution Prevention is on in the KES policy" in html
