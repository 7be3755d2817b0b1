"""The KSC client contract: every test runs against both backends, over HTTPS on loopback, without Django.

"builtin" is the project's own client; "klakoapi" is Kaspersky's KlAkOAPI
package behind our adapter, skipped (with the reason printed) where the
package is not installed. Both talk to the real simulator: nothing is mocked. The client is built
from a KscConfig handed in (``direct_ksc``); building clients from the settings is
tests/test_ksc_client.py's.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import pickle
import socket
import threading
import time

import pytest

from ksc_client import filters, wire
from ksc_client.client import Host, KscConfig
from ksc_client.errors import (
    KscAuthError,
    KscCallError,
    KscError,
    KscProtocolError,
    KscTlsError,
    KscUnavailable,
)
from ksc_client.hosts import ip_to_long, long_to_ip
from ksc_client.klakoapi import klakoapi_importable
from ksc_simulator.server import (
    ERR_BAD_PARAM,
    ERR_NOT_FOUND,
    KscSimulator,
    certificate_names,
    generate_certificate,
)
from tests.fixtures.simulated_ksc import NO_KLAKOAPI, config_for, make_client
from tests.support import ksc_payloads

ADDED = dt.datetime(2026, 11, 27, 8, 30, 5, tzinfo=dt.UTC)


def isolate(host_id: str, added: dt.datetime = ADDED, action: int = 1) -> dict:
    return ksc_payloads.isolate(host_id, added, action)


# --- incidents ---


def test_it_adds_an_incident_exactly_as_the_payload_encodes_it(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("TKY-WS-0101")
    data = isolate(host)

    incident_id = direct_ksc.add_incident(data)

    (incident,) = ksc_simulator.incidents()
    assert incident["id"] == incident_id
    # Byte-for-byte what wire.py encodes, whichever backend sent it.
    assert incident["pData"] == wire.encode_params(data)
    assert incident["pData"]["KLINCDT_ADDED"] == {"type": "datetime", "value": "2026-11-27T08:30:05Z"}


def test_it_marks_the_incident_unhandled(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("TKY-WS-0101")
    incident_id = direct_ksc.add_incident(isolate(host))

    direct_ksc.update_incident(incident_id, ksc_payloads.update_incident_data(host))

    (incident,) = ksc_simulator.incidents()
    assert [update["pData"] for update in incident["updates"]] == [
        {"KLINCDT_IS_HANDLED": False, "KLHST_WKS_HOSTNAME": host}
    ]


def test_a_ksc_refusal_keeps_kscs_code_and_message(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("TKY-WS-0101")

    with pytest.raises(KscCallError) as caught:
        direct_ksc.update_incident(4242, ksc_payloads.update_incident_data(host))

    error = caught.value
    assert (error.code, error.module, error.method) == (ERR_NOT_FOUND, "KLSTD", "HostGroup.UpdateIncident")
    assert "4242" in error.message
    assert str(error).startswith("KSC refused HostGroup.UpdateIncident: error 1183 (KLSTD)")
    assert not error.retryable  # KSC answered: repeating the same call gets the same answer


def test_ksc_refuses_an_incident_without_its_time(direct_ksc, ksc_simulator):
    data = isolate(ksc_simulator.host_id("TKY-WS-0101"))
    del data["KLINCDT_ADDED"]

    with pytest.raises(KscCallError) as caught:
        direct_ksc.add_incident(data)

    assert caught.value.code == ERR_BAD_PARAM
    assert "KLINCDT_ADDED" in str(caught.value)
    assert ksc_simulator.incidents() == []


def test_it_pages_through_the_accessor_and_releases_it(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("SRV-FILE-01")
    other = ksc_simulator.host_id("SRV-FILE-02")
    ids = [direct_ksc.add_incident(isolate(host, ADDED + dt.timedelta(minutes=n))) for n in range(7)]
    direct_ksc.add_incident(isolate(other))
    chunks_before = ksc_simulator.stats()["calls"].get("ChunkAccessor.GetItemsChunk", 0)

    rows = direct_ksc.find_incidents(
        filters.equals("KLHST_WKS_HOSTNAME", host),
        ["KLINCDT_ID", "KLINCDT_ADDED", "KLINCDT_IS_HANDLED"],
        order=[("KLINCDT_ADDED", False)],
        chunk_size=3,
    )

    assert [row["KLINCDT_ID"] for row in rows] == list(reversed(ids))
    assert rows[0]["KLINCDT_ADDED"] == ADDED + dt.timedelta(minutes=6)  # decoded: aware UTC datetime
    assert rows[0]["KLINCDT_IS_HANDLED"] is False
    stats = ksc_simulator.stats()
    assert stats["calls"]["ChunkAccessor.GetItemsChunk"] - chunks_before == 3  # 3 + 3 + 1
    assert stats["open_accessors"] == 0


def test_an_empty_filter_is_never_sent(direct_ksc, ksc_simulator):
    # KSC's grammar has no empty filter: the client refuses one before any call goes out.
    calls_before = dict(ksc_simulator.stats()["calls"])
    with pytest.raises(filters.FilterValueError, match="must not be empty"):
        direct_ksc.find_incidents("", ["KLINCDT_ID"])
    with pytest.raises(filters.FilterValueError, match="must not be empty"):
        direct_ksc._find_hosts("", limit=1)
    assert ksc_simulator.stats()["calls"] == calls_before

    every = direct_ksc._find_hosts(filters.any_value("KLHST_WKS_DN"), limit=500)
    assert len(every) == len(ksc_simulator.hosts())


def test_find_incidents_with_a_limit_reads_no_more(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("SRV-FILE-01")
    for n in range(5):
        direct_ksc.add_incident(isolate(host, ADDED + dt.timedelta(seconds=n)))

    rows = direct_ksc.find_incidents(filters.equals("KLHST_WKS_HOSTNAME", host), ["KLINCDT_ID"], limit=2)

    assert len(rows) == 2
    assert ksc_simulator.stats()["open_accessors"] == 0


def test_find_incident_recovers_exactly_the_one_added(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("TKY-WS-0102")
    other_host = ksc_simulator.host_id("TKY-WS-0103")
    wanted = isolate(host)
    direct_ksc.add_incident(isolate(host, ADDED - dt.timedelta(seconds=1)))  # a second earlier
    direct_ksc.add_incident(isolate(other_host))  # same time, another host
    direct_ksc.add_incident(isolate(host, action=0))  # same host and time, another request
    wanted_id = direct_ksc.add_incident(wanted)

    assert direct_ksc.find_incident(host, ADDED, wanted["KLINCDT_BODY"]) == wanted_id
    # A naive time is UTC, and microseconds are what KSC drops.
    assert direct_ksc.find_incident(host, ADDED.replace(tzinfo=None, microsecond=500), wanted["KLINCDT_BODY"]) == wanted_id


def test_find_incident_answers_none_when_nothing_was_added(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("TKY-WS-0102")
    direct_ksc.add_incident(isolate(host, ADDED + dt.timedelta(seconds=2)))

    assert direct_ksc.find_incident(host, ADDED, isolate(host)["KLINCDT_BODY"]) is None


def test_matching_incidents_lists_every_copy_of_one_request_oldest_first(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("TKY-WS-0102")
    data = isolate(host)
    first = direct_ksc.add_incident(data)
    direct_ksc.add_incident(isolate(host, action=0))  # same host and time, another request
    second = direct_ksc.add_incident(data)  # a late copy of the first

    assert direct_ksc.matching_incidents(host, ADDED, data["KLINCDT_BODY"]) == [first, second]
    assert direct_ksc.find_incident(host, ADDED, data["KLINCDT_BODY"]) == first


def test_delete_incident_removes_it_from_ksc(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("TKY-WS-0102")
    data = isolate(host)
    keep, duplicate = direct_ksc.add_incident(data), direct_ksc.add_incident(data)

    direct_ksc.delete_incident(duplicate)

    assert direct_ksc.matching_incidents(host, ADDED, data["KLINCDT_BODY"]) == [keep]
    assert [(i["id"], i["deleted"]) for i in ksc_simulator.incidents()] == [(keep, False), (duplicate, True)]
    assert ksc_simulator.stats()["calls"]["HostGroup.DeleteIncident"] == 1


def test_deleting_an_unknown_incident_is_a_ksc_error(direct_ksc, ksc_simulator):
    with pytest.raises(KscCallError) as caught:
        direct_ksc.delete_incident(424242)
    assert caught.value.code == 1183
    assert "424242" in str(caught.value)


# --- hosts ---


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("TKY-WS-0105", ["TKY-WS-0105"]),
        ("tky-ws-010", [f"TKY-WS-010{n}" for n in range(1, 10)]),  # prefix, any case
        ("ws-0105", ["TKY-WS-0105"]),  # any part of the name, not only its start
        ("sql-01.corp", ["SRV-SQL-01"]),  # any part of the FQDN
        ("srv-sql-01.corp.example.co.jp", ["SRV-SQL-01"]),  # FQDN
        ("10.20.1.105", ["TKY-WS-0105"]),  # IPv4 via KLHST_WKS_IP_LONG
        ("  DC0  ", ["DC01", "DC02"]),
        ("no-such-host", []),
        ("", []),
    ],
)
def test_it_finds_hosts_by_name_fqdn_or_ip(direct_ksc, query, expected):
    assert [host.display_name for host in direct_ksc.find_hosts(query)] == expected


def test_a_found_host_carries_what_the_portal_shows(direct_ksc, ksc_simulator):
    (host,) = direct_ksc.find_hosts("10.10.1.22")

    assert host == Host(
        id=ksc_simulator.host_id("SRV-SQL-01"),
        display_name="SRV-SQL-01",
        fqdn="srv-sql-01.corp.example.co.jp",
        ip="10.10.1.22",
        group_name="Servers",
        last_seen=host.last_seen,
        os_name="Microsoft Windows Server 2022 Standard",
        last_visible=host.last_visible,
    )
    assert host.last_seen is not None and host.last_seen.tzinfo is not None
    assert host.last_visible is not None and host.last_visible.tzinfo is not None


def test_it_finds_a_host_by_its_ksc_id(direct_ksc, ksc_simulator):
    host_id = ksc_simulator.host_id("OSK-WS-0201")

    assert [host.display_name for host in direct_ksc.find_hosts(host_id)] == ["OSK-WS-0201"]
    assert direct_ksc.get_host(host_id).display_name == "OSK-WS-0201"
    assert direct_ksc.get_host("00000000-0000-0000-0000-000000000000") is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('Reception "Front', ['Reception "Front Desk"']),  # a quote in the text cannot end the string
        ("LAB-KIOSK [", ["LAB-KIOSK [old]"]),  # nor can a bracket open a character class
        ("Spare PC *", ["Spare PC *do not use*"]),  # a literal star
        ("*", ["Spare PC *do not use*"]),  # a star is a literal star, not "everything"
        ("C *", ["Spare PC *do not use*"]),
        ("?", []),
        ("[old]", ["LAB-KIOSK [old]"]),
        ('")(|(KLHST_WKS_DN=*', []),  # an attempt to rewrite the filter finds nothing
        ("TKY-WS-0101*", []),
    ],
)
def test_host_search_takes_the_text_literally(direct_ksc, query, expected):
    assert [host.display_name for host in direct_ksc.find_hosts(query)] == expected


def test_a_star_in_the_search_is_not_a_wildcard(direct_ksc):
    # "PC *do" as a pattern would match "PC xxdo"; taken literally it matches only the star.
    assert [host.display_name for host in direct_ksc.find_hosts("PC *do")] == ["Spare PC *do not use*"]
    assert direct_ksc.find_hosts("PC*use") == []


def test_host_search_refuses_control_characters(direct_ksc):
    with pytest.raises(filters.FilterValueError):
        direct_ksc.find_hosts("TKY\x00")


def test_get_host_info_returns_the_asked_attributes(direct_ksc, ksc_simulator):
    host_id = ksc_simulator.host_id("DC01")

    info = direct_ksc.get_host_info(host_id, ["KLHST_WKS_DN", "KLHST_WKS_IP_LONG", "KLHST_WKS_LAST_NAGENT_CONNECTED"])

    assert info["KLHST_WKS_DN"] == "DC01"
    assert long_to_ip(info["KLHST_WKS_IP_LONG"]) == "10.10.0.10"
    assert isinstance(info["KLHST_WKS_LAST_NAGENT_CONNECTED"], dt.datetime)
    assert set(info) == {"KLHST_WKS_DN", "KLHST_WKS_IP_LONG", "KLHST_WKS_LAST_NAGENT_CONNECTED"}


def test_get_host_info_of_an_unknown_host_is_a_ksc_error(direct_ksc):
    with pytest.raises(KscCallError) as caught:
        direct_ksc.get_host_info("no-such-host", ["KLHST_WKS_DN"])
    assert caught.value.code == ERR_NOT_FOUND


# --- administration groups (issue 27, point 1) ---


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("Servers", True),
        ("Managed devices/Servers", True),
        ("/Managed devices/Servers/Domain Controllers/", True),
        ("Servers/Domain Controllers", True),
        ("Managed devices", True),  # the root itself
        ("Domain Controllers", False),  # not directly below the root
        ("Servers/Nowhere", False),
        ("Nowhere/Servers", False),
    ],
)
def test_a_group_is_found_by_its_path_level_by_level(direct_ksc, path, found):
    assert (direct_ksc.group_id(path) is not None) is found


def test_the_hosts_of_a_group_with_and_without_its_subgroups(direct_ksc):
    servers = direct_ksc.group_id("Managed devices/Servers")
    controllers = direct_ksc.group_id("Servers/Domain Controllers")

    assert direct_ksc.subgroup_ids(servers) == [controllers]
    assert direct_ksc.subgroup_ids(controllers) == []
    alone, total = direct_ksc.hosts_in_groups([servers], limit=100)
    assert total == 9 and len(alone) == 9 and all(host.group_name == "Servers" for host in alone)
    both, total = direct_ksc.hosts_in_groups([servers, *direct_ksc.subgroup_ids(servers)], limit=100)
    assert total == 11 and {"DC01", "DC02"} < {host.display_name for host in both}
    # The whole tree below the root: every host, counted even beyond what is read.
    root = direct_ksc.group_id("Managed devices")
    everything, total = direct_ksc.hosts_in_groups([root, *direct_ksc.subgroup_ids(root)], limit=5)
    assert total == 53 and len(everything) == 5


def test_the_hosts_of_many_groups_go_in_chunks_of_groups(direct_ksc, ksc_simulator):
    root = direct_ksc.group_id("Managed devices")
    ids = [root, *direct_ksc.subgroup_ids(root)]
    direct_ksc.GROUP_CHUNK = 2  # an instance's own chunk: several FindHosts, one answer
    before = ksc_simulator.stats()["calls"].get("HostGroup.FindHosts", 0)

    hosts, total = direct_ksc.hosts_in_groups(ids, limit=100)

    assert total == len(hosts) == 53 and len({host.id for host in hosts}) == 53
    calls = ksc_simulator.stats()["calls"]["HostGroup.FindHosts"] - before
    assert calls == (len(ids) + 1) // 2


def test_a_subgroups_question_about_an_unknown_group_is_a_ksc_error(direct_ksc):
    with pytest.raises(KscCallError) as caught:
        direct_ksc.subgroup_ids(987654)
    assert caught.value.code == ERR_NOT_FOUND


# --- sessions ---


def test_one_login_serves_every_call(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("DC01")
    direct_ksc.get_host_info(host, ["KLHST_WKS_DN"])
    direct_ksc.find_hosts("DC")
    direct_ksc.add_incident(isolate(host))

    assert ksc_simulator.stats()["logins"] == 1


def test_a_refused_session_is_renewed_once_and_the_call_repeated(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("DC01")
    direct_ksc.get_host_info(host, ["KLHST_WKS_DN"])
    ksc_simulator.expire_sessions()  # as a KSC restart would

    incident_id = direct_ksc.add_incident(isolate(host))

    assert ksc_simulator.stats()["logins"] == 2
    assert [incident["id"] for incident in ksc_simulator.incidents()] == [incident_id]


def test_an_idle_connection_closed_by_ksc_costs_at_most_one_login(backend, ksc_certificate):
    cert_path, key_path = ksc_certificate
    simulator = KscSimulator(
        user="edr-portal", password="pw-idle-1", port=0, cert_path=cert_path, key_path=key_path, idle_timeout=0.2
    ).start()
    try:
        config = KscConfig(
            host="127.0.0.1",
            port=simulator.port,
            user="edr-portal",
            password="pw-idle-1",
            verify=str(cert_path),
            connect_timeout=2.0,
            read_timeout=5.0,
        )
        client = make_client(config, backend)
        client.find_hosts("DC")
        time.sleep(0.4)  # KSC closes the idle connection, and a connection-bound login with it

        assert [host.display_name for host in client.find_hosts("DC01")] == ["DC01"]
        # KlAkOAPI's login lived on the closed connection; the built-in session token did not.
        assert simulator.state.stats["logins"] == (2 if backend == "klakoapi" else 1)
        client.close()
    finally:
        simulator.stop()


def test_it_gives_up_when_the_new_login_is_refused(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("DC01")
    direct_ksc.get_host_info(host, ["KLHST_WKS_DN"])
    ksc_simulator.expire_sessions()
    ksc_simulator.set_faults({"reject_login": True})

    with pytest.raises(KscAuthError) as caught:
        direct_ksc.add_incident(isolate(host))

    assert not caught.value.retryable
    assert ksc_simulator.stats()["refused_logins"] == 1  # one new login tried, not a loop
    assert ksc_simulator.incidents() == []


def test_it_gives_up_when_ksc_refuses_the_call_again_after_a_fresh_login(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("DC01")
    ksc_simulator.set_faults({"fail_next": 5, "status": 403, "methods": ["HostGroup.GetHostInfo"]})

    with pytest.raises(KscAuthError) as caught:
        direct_ksc.get_host_info(host, ["KLHST_WKS_DN"])

    assert "right after a fresh login" in str(caught.value)
    assert caught.value.status == 403
    stats = ksc_simulator.stats()
    assert stats["calls"]["HostGroup.GetHostInfo"] == 2
    assert stats["logins"] == 2


def test_a_wrong_password_is_refused_clearly_and_is_not_retryable(ksc_simulator, backend):
    client = make_client(config_for(ksc_simulator, password="not-the-password-Xy7"), backend)

    with pytest.raises(KscAuthError) as caught:
        client.find_hosts("DC")

    message = str(caught.value)
    assert "refused the login of user 'edr-portal'" in message and "KSC_PASSWORD" in message
    assert "not-the-password-Xy7" not in message
    assert not caught.value.retryable
    assert ksc_simulator.stats()["refused_logins"] == 1


def test_calls_from_many_threads_share_the_login(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("DC01")
    failures: list[BaseException] = []

    def work():
        try:
            for _ in range(5):
                assert direct_ksc.get_host_info(host, ["KLHST_WKS_DN"]) == {"KLHST_WKS_DN": "DC01"}
        except BaseException as error:  # collected for the main thread's assertion
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert failures == []
    assert ksc_simulator.stats()["logins"] == 1


def test_close_ends_the_session(direct_ksc, ksc_simulator, backend):
    direct_ksc.find_hosts("DC")
    direct_ksc.close()

    stats = ksc_simulator.stats()
    if backend == "builtin":
        assert stats["calls"]["Session.EndSession"] == 1 and stats["live_sessions"] == 0
    direct_ksc.find_hosts("DC")  # a closed client logs in again when used
    assert ksc_simulator.stats()["logins"] == 2


# --- failures ---


def test_a_5xx_answer_is_retryable(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("DC01")
    direct_ksc.find_hosts("DC")
    ksc_simulator.set_faults({"fail_next": 1, "status": 503})

    with pytest.raises(KscUnavailable) as caught:
        direct_ksc.get_host_info(host, ["KLHST_WKS_DN"])

    assert caught.value.retryable and caught.value.status == 503
    assert direct_ksc.get_host_info(host, ["KLHST_WKS_DN"]) == {"KLHST_WKS_DN": "DC01"}  # and then it works


def test_a_5xx_answer_to_the_login_is_retryable_not_an_auth_error(direct_ksc, ksc_simulator):
    ksc_simulator.set_faults({"fail_next": 1, "status": 503})

    with pytest.raises(KscUnavailable):
        direct_ksc.find_hosts("DC")
    assert [host.display_name for host in direct_ksc.find_hosts("DC01")] == ["DC01"]


def test_a_timeout_is_retryable_and_its_outcome_unknown(ksc_simulator, backend):
    simulator = ksc_simulator
    host = simulator.host_id("DC01")
    client = make_client(config_for(simulator, read_timeout=0.3), backend)
    client.find_hosts("DC")  # logged in before KSC turns slow
    simulator.set_faults({"delay_ms": 700})

    started = time.monotonic()
    with pytest.raises(KscUnavailable) as caught:
        client.add_incident(isolate(host))
    assert time.monotonic() - started < 0.65  # the read timeout, not KSC's pace

    assert caught.value.retryable and caught.value.outcome_unknown
    simulator.clear_faults()
    # The slow KSC carried the call out after all: the job's recovery finds it.
    deadline = time.monotonic() + 3
    while not simulator.incidents() and time.monotonic() < deadline:
        time.sleep(0.05)
    (incident,) = simulator.incidents()
    assert client.find_incident(host, ADDED, incident["pData"]["KLINCDT_BODY"]) == incident["id"]
    client.close()


def test_a_dropped_connection_after_add_leaves_an_incident_the_job_can_find(direct_ksc, ksc_simulator):
    host = ksc_simulator.host_id("DC02")
    data = isolate(host)
    ksc_simulator.set_faults({"drop_after_add": 1})

    with pytest.raises(KscUnavailable) as caught:
        direct_ksc.add_incident(data)

    assert caught.value.retryable and caught.value.outcome_unknown
    (incident,) = ksc_simulator.incidents()
    assert direct_ksc.find_incident(host, ADDED, data["KLINCDT_BODY"]) == incident["id"]


def test_no_server_at_the_port_is_retryable_and_surely_not_carried_out(backend, ksc_simulator):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = make_client(config_for(ksc_simulator, port=closed_port), backend)

    with pytest.raises(KscUnavailable) as caught:
        client.add_incident(isolate("any-host"))

    assert caught.value.retryable and not caught.value.outcome_unknown
    assert f"127.0.0.1:{closed_port}" in str(caught.value)


def test_an_answer_that_is_not_json_is_a_protocol_error(direct_ksc, ksc_simulator):
    direct_ksc.find_hosts("DC")
    ksc_simulator.set_faults({"malformed_next": 1})

    with pytest.raises(KscProtocolError) as caught:
        direct_ksc.find_hosts("DC")

    assert not caught.value.retryable


def test_an_odd_http_status_is_a_protocol_error(direct_ksc, ksc_simulator):
    direct_ksc.find_hosts("DC")
    ksc_simulator.set_faults({"fail_next": 1, "status": 400})

    with pytest.raises(KscProtocolError) as caught:
        direct_ksc.find_hosts("DC")

    assert caught.value.status == 400 and "HTTP 400" in str(caught.value)


# --- TLS ---


def test_verification_against_the_system_store_refuses_a_self_signed_ksc(ksc_simulator, backend):
    client = make_client(config_for(ksc_simulator, verify=True), backend)

    with pytest.raises(KscTlsError) as caught:
        client.find_hosts("DC")

    assert not caught.value.retryable
    assert "the system CA store" in str(caught.value)
    assert ksc_simulator.stats()["logins"] == 0


def test_verification_against_another_certificate_refuses_the_connection(ksc_simulator, backend, tmp_path):
    other_cert, _ = generate_certificate(tmp_path, certificate_names("127.0.0.1"))
    client = make_client(config_for(ksc_simulator, verify=str(other_cert)), backend)

    with pytest.raises(KscTlsError) as caught:
        client.find_hosts("DC")
    assert str(other_cert) in str(caught.value)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verification_off_connects_to_any_certificate(ksc_simulator, backend):
    client = make_client(config_for(ksc_simulator, verify=False), backend)

    assert [host.display_name for host in client.find_hosts("DC01")] == ["DC01"]
    client.close()


# --- secrets ---


def test_the_password_shows_nowhere(ksc_simulator, backend, caplog):
    secret = "Zq9-very-secret-pass"
    caplog.set_level(logging.DEBUG)
    ok = make_client(config_for(ksc_simulator), backend)
    ok.find_hosts("DC")
    refused = make_client(config_for(ksc_simulator, password=secret), backend)
    with pytest.raises(KscError) as caught:
        refused.find_hosts("DC")
    ok.close()

    encoded = wire.encode_value(secret.encode()).get("value")  # base64, as in the Authorization header
    shown = [caplog.text, repr(refused), repr(refused.config), str(caught.value), json.dumps(caught.value.details())]
    for text in shown:
        assert secret not in text and encoded not in text and ksc_simulator.password not in text


def test_ksc_errors_survive_pickling():
    error = KscUnavailable("KSC is down", method="HostGroup.AddIncident", status=503, outcome_unknown=True)

    copy = pickle.loads(pickle.dumps(error))

    assert (str(copy), copy.method, copy.status, copy.outcome_unknown) == ("KSC is down", error.method, 503, True)
    call_error = KscCallError.from_pxg_error("HostGroup.AddIncident", {"code": 1183, "message": "gone"})
    assert pickle.loads(pickle.dumps(call_error)).details() == call_error.details()


# --- the process's client ---


def test_the_klakoapi_fallback_login_through_create_works(ksc_simulator):
    if not klakoapi_importable():
        pytest.skip(NO_KLAKOAPI)
    client = make_client(config_for(ksc_simulator), "klakoapi")
    client.login_with_own_session = False  # as with a KlAkOAPI whose private login steps differ

    client.find_hosts("DC")
    ksc_simulator.expire_sessions()
    assert [host.display_name for host in client.find_hosts("DC01")] == ["DC01"]
    assert ksc_simulator.stats()["logins"] == 2
    client.close()


def test_the_ipv4_encoding_puts_the_first_octet_highest():
    # 10.99.101.200, as other tools decode KSC's KLHST_WKS_IP_LONG.
    assert ip_to_long("10.99.101.200") == 174286280
    assert long_to_ip(174286280) == "10.99.101.200"
