"""ksc_client.KscConfig: the configuration a client is handed, and the [Response] task name, without Django."""

from __future__ import annotations

import base64
import re

import pytest

from ksc_client import KscConfig, KscConfigError
from ksc_client.tasks import RESPONSE_TASK_PATTERN, parse_task_name


def test_a_url_gives_host_and_port_and_host_and_port_give_the_url():
    by_url = KscConfig(name="emea", url="https://ksc-emea.corp.example:13291/", user="u", password="p")
    by_parts = KscConfig(host="ksc-emea.corp.example", port=13291, user="u", password="p")

    assert (by_url.host, by_url.port, by_url.url) == ("ksc-emea.corp.example", 13291, "https://ksc-emea.corp.example:13291")
    assert by_parts.url == by_url.url == by_url.base_url
    assert KscConfig(url="https://ksc.example").port == 13299
    assert KscConfig(host="::1").base_url == "https://[::1]:13299"


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"url": "http://ksc.example:13299"}, "must be https://host:port"),
        ({"url": "https://ksc.example:port"}, "is not a number"),
        ({"url": "", "host": ""}, "no host"),
        ({"domain": 'CORP"x'}, "double quotes"),
        ({"vserver": "tenant-a", "route": (5,)}, "a virtual server has no secondaries"),
    ],
)
def test_a_config_that_cannot_work_is_refused_naming_the_server(changes, words):
    values = {"name": "emea", "url": "https://ksc.example:13299", "user": "u", "password": "p", **changes}
    with pytest.raises(KscConfigError, match=words) as refused:
        KscConfig(**values)
    assert "'emea'" in str(refused.value)
    assert isinstance(refused.value, ValueError)


def test_the_password_stays_out_of_the_repr_and_the_route_is_a_tuple_of_ids():
    config = KscConfig(url="https://ksc.example:13299", user="edr", password="s3cret-Pw", route=[7, "12"])

    assert "s3cret-Pw" not in repr(config)
    assert config.route == (7, 12)
    assert config.ca_file == "" and KscConfig(url="https://k:1", verify="/etc/ksc.pem").ca_file == "/etc/ksc.pem"


def test_the_headers_are_what_klakoapi_sends():
    config = KscConfig(url="https://k:13299", user="edr", password="pässword", vserver="Tenant Ä", internal=False)

    assert config.vserver_header() == base64.b64encode("Tenant Ä".encode()).decode()
    assert KscConfig(url="https://k:13299").vserver_header() == ""
    user = base64.b64encode(b"edr").decode()
    password = base64.b64encode("pässword".encode()).decode()
    assert config.authorization_header() == f'KSCBasic user="{user}", pass="{password}", domain="", internal="0"'


def test_the_response_task_name_is_read_with_the_documented_pattern_or_one_handed_in():
    parsed = parse_task_name("[Response][Kuma] isolateHost - 29.11.2026 15:00 - 77")
    assert (parsed.area, parsed.task, parsed.incident_id) == ("Kuma", "isolateHost", 77)
    assert parse_task_name("[RESPONSE][KUMA] Network isolation - 29.11.2026 15:00").incident_id is None
    assert parse_task_name("Virus scan") is None
    assert parse_task_name("") is None

    own = re.compile(r"^R:(?P<task>\w+)#(?P<id>\d+)$")
    assert parse_task_name("R:scan#5", own).incident_id == 5
    assert parse_task_name("[Response][Kuma] scan - x - 5", own) is None
    assert RESPONSE_TASK_PATTERN.flags & re.IGNORECASE
