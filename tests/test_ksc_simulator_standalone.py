"""The KSC simulator stands alone: none of its modules imports the portal's ``responses`` or ``ksc_client``.

It is a stand-in for KSC and KES; if it validated through the portal's catalog or parsed filters
with the portal's code, a mistake in the portal would be mirrored instead of caught. The check
runs in a fresh interpreter whose import system refuses both packages: every ksc_simulator module
is imported there, and a simulator is started and answers a login and an AddIncident over HTTPS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import base64, http.client, importlib, json, pkgutil, ssl, sys, tempfile

class RefusePortal:
    # A meta-path finder asked before every other: any import of the portal's package fails loudly.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("responses", "ksc_client"):
            raise ImportError(f"the simulator imported the portal's {name}")
        return None

sys.meta_path.insert(0, RefusePortal())

import ksc_simulator

modules = ["ksc_simulator"]
for info in pkgutil.walk_packages(ksc_simulator.__path__, "ksc_simulator."):
    importlib.import_module(info.name)
    modules.append(info.name)

from ksc_simulator.server import KscSimulator

simulator = KscSimulator(user="edr", password="s3cret", port=0, cert_dir=tempfile.mkdtemp()).start()
try:
    context = ssl.create_default_context(cafile=str(simulator.cert_path))
    connection = http.client.HTTPSConnection("127.0.0.1", simulator.port, context=context, timeout=30)
    b64 = lambda text: base64.b64encode(text.encode()).decode()
    login = f'KSCBasic user="{b64("edr")}", pass="{b64("s3cret")}", domain="", internal="1"'
    connection.request("POST", "/api/v1.0/login", body=b"", headers={"Authorization": login, "X-KSC-VServer": ""})
    response = connection.getresponse()
    response.read()
    login_status = response.status
    host = next(iter(simulator.state.hosts))
    envelope = {"targetHost": host, "task": "isolateHost", "params": {"action": 1},
                "responseEventIncident": True, "responseEventIncidentArea": "Kuma"}
    pdata = {"KLINCDT_SEVERITY": 2, "KLINCDT_ADDED": {"type": "datetime", "value": "2026-11-27T08:30:05Z"},
             "KLINCDT_BODY": json.dumps(envelope), "KLHST_WKS_HOSTNAME": host}
    connection.request("POST", "/api/v1.0/HostGroup.AddIncident", body=json.dumps({"pData": pdata}),
                       headers={"Content-Type": "application/json"})
    added = json.loads(connection.getresponse().read())
finally:
    simulator.stop()
print(json.dumps({
    "modules": modules,
    "login_status": login_status,
    "added": added,
    "portal_loaded": sorted(name for name in sys.modules if name.split(".")[0] in ("responses", "ksc_client")),
}))
"""


def test_the_simulator_imports_and_serves_without_the_portal_package():
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    expected = {
        f"ksc_simulator.{path.relative_to(ROOT / 'ksc_simulator').with_suffix('').as_posix().replace('/', '.')}"
        for path in (ROOT / "ksc_simulator").rglob("*.py")
        if path.name != "__init__.py"
    }
    assert expected <= set(report["modules"])
    assert {"ksc_simulator.server", "ksc_simulator.envelope", "ksc_simulator.filters"} <= expected
    assert report["login_status"] == 200
    assert report["added"] == {"PxgRetVal": 1}
    assert report["portal_loaded"] == []


def test_the_refusing_finder_does_catch_a_portal_import():
    # The check above proves something only if the finder really stops an import of either package.
    for module in ("responses.payload", "ksc_client.wire"):
        script = SCRIPT.split("import ksc_simulator\n")[0] + f"import {module}\n"
        result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)

        assert result.returncode != 0
        assert f"the simulator imported the portal's {module.split('.')[0]}" in result.stderr
