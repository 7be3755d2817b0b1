"""The host directory (issue 24, point 4): the auditors' host search looks for hosts where they are few.

Every request's host id and name as filed is in the directory (filing, and migration 0023
for requests filed before it), and KSC's answers add names and FQDNs. The search through
the directory finds every request the old search over the requests' own columns found;
on PostgreSQL it reads the directory's trigram indexes and the requests' btree host index.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.db.models import Q
from django.http import QueryDict

from ksc_client.hosts import Host
from responses import host_directory
from responses.filtersets import RequestFilterSet
from responses.models import HostDirectoryEntry, ResponseRequest
from tests.support.filing import file_request
from tests.support.pages import add_requests

HOSTS = [
    ("0f3b2a4c-1d2e-4f50-9a6b-000000000001", "TKY-WS-0001"),
    ("0f3b2a4c-1d2e-4f50-9a6b-000000000002", "TKY-WS-0002"),
    ("0f3b2a4c-1d2e-4f50-9a6b-000000000012", "TKY-WS-0012"),
    ("7a1c0000-0000-4000-8000-0000000000aa", "OSA-SRV-DB"),
    ("7a1c0000-0000-4000-8000-0000000000bb", ""),  # KSC gave no name when it was filed
]
SEARCHES = ["TKY-WS-", "tky-ws-00", "0001", "WS-0012", "osa", "SRV-DB", "0000aa", "-0000000000bb", "9a6b", "nothing"]


def old_search(text: str) -> set[int]:
    """What the host filter answered before the directory: a substring of the request's own host columns."""
    rows = ResponseRequest.objects.filter(Q(target_host__icontains=text) | Q(target_host_name__icontains=text))
    return set(rows.values_list("pk", flat=True))


def new_search(text: str, field: str = "host") -> set[int]:
    filters = RequestFilterSet(QueryDict(mutable=True) | {field: text}, queryset=ResponseRequest.objects.all())
    return set(filters.rows().values_list("pk", flat=True))


@pytest.fixture
def filed(settings, alice):
    settings.REQUEST_RATE_LIMIT = 0
    rows = []
    for number in range(3):
        for host_id, name in HOSTS:
            rows.append(
                file_request(
                    user=alice,
                    task="isolateHost",
                    target_host=host_id,
                    target_host_name=name,
                    params={"action": number % 2},
                    justification=f"alert {number}",
                )
            )
    return rows


def test_filing_puts_the_host_and_its_name_in_the_directory_once(filed):
    entries = set(HostDirectoryEntry.objects.values_list("host_id", "display_name"))
    assert entries == set(HOSTS)  # three requests per host, one row per host and name
    assert HostDirectoryEntry.objects.count() == len(HOSTS)


def test_the_directory_search_finds_what_the_old_search_found(filed):
    for text in SEARCHES:
        expected = old_search(text)
        assert new_search(text) == expected, text
    assert len(new_search("TKY-WS-")) == 9 and new_search("nothing") == set()


def test_a_host_seen_under_a_new_name_and_an_fqdn(filed):
    host_id = HOSTS[0][0]
    before = old_search("TKY-WS-0001")
    host_directory.record_seen([Host(host_id, "TKY-LT-0099", "tky-lt-0099.corp.example.co.jp", "", "", None)])
    assert new_search("TKY-WS-0001") == before  # the name its requests were filed under
    # Nothing was filed under the new name; its FQDN (tky-lt-0099.corp...) holds it, so the host's requests.
    assert old_search("TKY-LT-0099") == set() and new_search("TKY-LT-0099") == before
    assert new_search("lt-0099.corp.example") == before  # the FQDN finds every request of the host
    entry = HostDirectoryEntry.objects.get(host_id=host_id, display_name="TKY-LT-0099")
    assert entry.fqdn == "tky-lt-0099.corp.example.co.jp"
    # Seen again with another FQDN: the same row, updated.
    host_directory.record_seen([Host(host_id, "TKY-LT-0099", "tky-lt-0099.new.example", "", "", None)])
    assert HostDirectoryEntry.objects.filter(host_id=host_id).count() == 2
    assert HostDirectoryEntry.objects.get(host_id=host_id, display_name="TKY-LT-0099").fqdn == "tky-lt-0099.new.example"
    assert new_search("lt-0099.corp.example") == set()


def test_a_broad_search_goes_to_the_requests_trigram_indexes_and_finds_the_same(filed, monkeypatch):
    monkeypatch.setattr(host_directory, "MAX_MATCHES", 2)
    for text in SEARCHES:
        assert new_search(text) == old_search(text), text
    assert len(new_search("TKY-WS-")) == 9


def test_the_word_search_still_finds_hosts_by_the_requests_own_columns(filed):
    for text in ["TKY-WS-0002", "osa-srv", "0000bb"]:
        assert new_search(text, "q") == old_search(text), text
    alert = set(ResponseRequest.objects.filter(justification__icontains="alert 1").values_list("pk", flat=True))
    assert new_search("alert", "q") == {rr.pk for rr in filed}  # the justification is still searched
    assert len(alert) == len(HOSTS)


def test_the_migration_fills_the_directory_from_requests_filed_before_it(alice, filed):
    HostDirectoryEntry.objects.all().delete()
    ResponseRequest.objects.filter(pk=filed[0].pk).update(target_host_name="TKY-WS-0001-OLD")
    migration = importlib.import_module("responses.migrations.0023_host_directory")
    migration.backfill(None, SimpleNamespace(connection=connection))
    migration.backfill(None, SimpleNamespace(connection=connection))  # a second run adds nothing
    entries = set(HostDirectoryEntry.objects.values_list("host_id", "display_name"))
    assert entries == {*HOSTS, (HOSTS[0][0], "TKY-WS-0001-OLD")}
    # 0026 (several KSC servers) then puts every row of before on the server named "primary".
    importlib.import_module("responses.migrations.0026_servers_ksc_server").directory_on_primary(django_apps, None)
    assert set(HostDirectoryEntry.objects.values_list("server", flat=True)) == {"primary"}
    for text in SEARCHES + ["0001-OLD"]:
        assert new_search(text) == old_search(text), text
    assert new_search("0001-OLD") == {filed[0].pk}


def test_ksc_look_ups_add_names_and_fqdns(client, login, alice, ksc_settings):
    from ksc_simulator.inventory import default_hosts

    login(client, alice)
    response = client.get("/hosts/search", {"q": "DC0"})
    assert response.status_code == 200
    dcs = [host for host in default_hosts() if host.display_name.startswith("DC0")]
    assert dcs
    rows = {(row.host_id, row.display_name, row.fqdn) for row in HostDirectoryEntry.objects.all()}
    assert {(host.id, host.display_name, host.fqdn) for host in dcs} <= rows
    # The server's name in KSC_SERVERS (KSC_* is the server "primary"), not its address.
    assert all(row.server == "primary" for row in HostDirectoryEntry.objects.all())


def test_on_postgresql_the_host_search_reads_the_directory_then_the_btree_indexes(postgres, alice, bob, dave):
    from django.test.utils import CaptureQueriesContext

    add_requests(alice, bob, 40)
    with CaptureQueriesContext(postgres) as captured:
        rows = RequestFilterSet(QueryDict("host=WS-0003"), queryset=ResponseRequest.objects.visible_to(dave)).rows()
    (directory,) = [query["sql"] for query in captured.captured_queries if "responses_hostdirectory" in query["sql"]]
    plans = {}
    with postgres.cursor() as cursor:
        # Priced as at a million rows: no sequential scans, and no ordered index scan that filters row
        # by row (a tiny table's cheapest plans), so each search must find the index made for it.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + directory)
        plans["directory"] = "\n".join(row[0] for row in cursor.fetchall())
        sql, params = rows.order_by("-created_at", "-id")[:50].query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plans["requests"] = "\n".join(row[0] for row in cursor.fetchall())
    assert "hostdir_display_name_trgm_idx" in plans["directory"], plans["directory"]
    assert "rr_target_host_name_idx" in plans["requests"], plans["requests"]
    assert "trgm" not in plans["requests"], plans["requests"]
    assert {rr.pk for rr in rows} == old_search("WS-0003") and len(rows) == 10  # WS-00030 .. WS-00039


def test_a_name_longer_than_the_column_is_kept_to_its_size_and_a_foreign_id_is_left_out(db):
    long_name = "N" * 300
    host_directory.record_seen(
        [
            Host("h-long", long_name, "f" * 300 + ".example", "", "", None),
            Host("x" * 300, "TOO-LONG-ID", "", "", "", None),
            Host("", "NO-ID", "", "", "", None),
        ]
    )
    (entry,) = HostDirectoryEntry.objects.all()
    assert (entry.host_id, entry.display_name, len(entry.fqdn)) == ("h-long", "N" * 255, 255)
