"""Tenants (issue 26, point 5): users scoped to KSC servers, by scope_user, the admin and TENANT_GROUPS.

The page-by-page proof that one tenant never reads another's is tests/test_tenant_grid.py;
here: the rules of a scope, who sets it and how it is audited, filing on a server, and the
API's ``server`` field with its refusals.
"""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from accounts import roles, tenants
from accounts.models import AccountEvent, ServerScope
from responses import policy
from responses.errors import InvalidRequest
from responses.models import ResponseRequest
from tests.fixtures.accounts import make_user
from tests.fixtures.api import NEW, REQUESTS
from tests.fixtures.tenants import servers
from tests.support.filing import file_request


def scope_user(*args: str) -> str:
    out = io.StringIO()
    call_command("scope_user", *args, stdout=out)
    return out.getvalue()


class TestScopeRules:
    def test_with_one_server_a_user_without_a_scope_works_on_it(self, settings, alice):
        settings.KSC_SERVERS = servers("primary")
        assert policy.servers_of(alice) is None
        assert policy.acting_servers(alice) == ["primary"]

    def test_from_the_second_server_on_no_scope_is_no_server(self, settings, alice):
        settings.KSC_SERVERS = servers("acme", "globex")
        assert policy.servers_of(alice) == frozenset()
        assert policy.acting_servers(alice) == []
        assert not ResponseRequest.objects.visible_to(alice).exists()

    def test_every_server_is_explicit(self, settings, dave):
        settings.KSC_SERVERS = servers("acme", "globex")
        tenants.set_scope(dave, every_server=True, servers=[])
        assert policy.servers_of(dave) is None
        assert policy.acting_servers(dave) == ["acme", "globex"]

    def test_a_scope_naming_a_server_no_longer_configured_gives_nothing_of_it(self, settings, alice):
        settings.KSC_SERVERS = servers("acme", "globex")
        tenants.set_scope(alice, every_server=False, servers=["acme", "gone"])
        assert policy.servers_of(alice) == frozenset({"acme"})

    def test_only_a_global_auditor_exports_the_portal_wide_trail(self, settings, dave):
        settings.KSC_SERVERS = servers("acme", "globex")
        tenants.set_scope(dave, every_server=False, servers=["acme"])
        assert not policy.may_export_audit(dave)
        tenants.set_scope(dave, every_server=True, servers=[])
        dave.__dict__.pop("_portal_servers", None)
        assert policy.may_export_audit(dave)


class TestScopeUserCommand:
    def test_it_scopes_a_user_and_the_accounts_chain_records_before_and_after(self, settings, alice):
        settings.KSC_SERVERS = servers("acme", "globex")
        assert "servers acme, globex" in scope_user("alice", "--servers", "globex,acme")
        scope = ServerScope.objects.get(user=alice)
        assert (scope.every_server, scope.servers) == (False, ["acme", "globex"])
        event = AccountEvent.objects.filter(kind="scope_changed").get()
        assert event.subject_username == "alice" and event.actor_username == "system"
        assert event.detail["before"] == {"every_server": False, "servers": []}
        assert event.detail["after"] == {"every_server": False, "servers": ["acme", "globex"]}

        assert "every server" in scope_user("alice", "--all")
        assert AccountEvent.objects.filter(kind="scope_changed").count() == 2
        assert "(unchanged)" in scope_user("alice", "--all")
        assert AccountEvent.objects.filter(kind="scope_changed").count() == 2  # nothing changed: nothing recorded
        assert "no server" in scope_user("alice", "--none")
        assert ServerScope.objects.get(user=alice).describe() == {"every_server": False, "servers": []}

    def test_without_an_option_it_shows_the_scope_and_changes_nothing(self, settings, alice):
        settings.KSC_SERVERS = servers("acme", "globex")
        assert "no scope" in scope_user("alice")
        assert not ServerScope.objects.exists() and not AccountEvent.objects.filter(kind="scope_changed").exists()

    @pytest.mark.parametrize(
        ("args", "words"),
        [
            (("nobody", "--all"), "There is no user 'nobody'"),
            (("alice", "--servers", "acme,initech"), "no KSC server named 'initech'; the configured servers are acme, globex"),
            (("alice", "--servers", " , "), "--servers needs at least one server name"),
        ],
    )
    def test_bad_input_is_refused_by_name_and_changes_nothing(self, settings, alice, args, words):
        settings.KSC_SERVERS = servers("acme", "globex")
        with pytest.raises(CommandError, match=words):
            scope_user(*args)
        assert not ServerScope.objects.exists()
        assert not AccountEvent.objects.filter(kind="scope_changed").exists()

    def test_all_and_servers_together_are_refused(self, settings, alice):
        settings.KSC_SERVERS = servers("acme", "globex")
        with pytest.raises(CommandError, match="not allowed with argument"):
            call_command("scope_user", "alice", "--all", "--servers", "acme", stdout=io.StringIO(), stderr=io.StringIO())
        assert not ServerScope.objects.exists()


class TestTenantGroups:
    def test_the_setting_maps_groups_to_servers_and_star_to_every_server(self):
        mapping = tenants.parse_tenant_groups(
            "TENANT_GROUPS", '{"acme": "CN=SOC Acme, DC=corp", "*": ["CN=SOC Auditors,DC=corp"]}', ["acme", "globex"]
        )
        assert tenants.servers_for(["cn=soc acme,dc=corp"], mapping) == (False, ["acme"])
        assert tenants.servers_for(["CN=SOC Auditors,DC=corp", "other"], mapping) == (True, [])
        assert tenants.servers_for(["other"], mapping) == (False, [])

    @pytest.mark.parametrize(
        ("raw", "words"),
        [
            ("[1]", "must be a JSON object from server name to groups"),
            ("{", "must be a JSON object such as"),
            ('{"initech": ["CN=x"]}', "'initech' is not a configured KSC server; use one of acme, globex"),
            ('{"acme": []}', "the groups of 'acme' must be a non-empty list"),
        ],
    )
    def test_junk_stops_the_start_with_the_key_named(self, raw, words):
        with pytest.raises(ImproperlyConfigured, match=words):
            tenants.parse_tenant_groups("TENANT_GROUPS", raw, ["acme", "globex"])

    def test_a_directory_sign_in_sets_the_scope_and_the_chain_says_so(self, settings, alice):
        from accounts import directory

        settings.KSC_SERVERS = servers("acme", "globex")
        settings.TENANT_GROUPS = {"globex": ("cn=soc globex,dc=corp",)}
        changes = directory.follow_directory(
            alice, {roles.ANALYSTS}, source="ldap", subject="dn:uid=alice", origin="ldap", groups=["CN=SOC Globex,DC=corp"]
        )
        assert "servers" in changes
        scope = ServerScope.objects.get(user=alice)
        assert (scope.servers, scope.from_directory) == (["globex"], True)
        event = AccountEvent.objects.filter(kind="scope_changed").get()
        assert event.detail["from_directory"] is True
        # Left the tenant's group: no server any more, recorded again.
        directory.follow_directory(
            alice, {roles.ANALYSTS}, source="ldap", subject="dn:uid=alice", origin="sync", groups=["CN=Other,DC=corp"]
        )
        assert ServerScope.objects.get(user=alice).servers == []
        assert AccountEvent.objects.filter(kind="scope_changed").count() == 2
        # scope_user leaves directory users to the directory.
        with pytest.raises(CommandError, match="TENANT_GROUPS sets their servers"):
            scope_user("alice", "--all")


class TestFilingOnAServer:
    def test_a_request_goes_to_the_server_named_and_its_events_name_it(self, settings, alice):
        settings.KSC_SERVERS = servers("acme", "globex")
        tenants.set_scope(alice, every_server=False, servers=["acme", "globex"])
        rr = file_request(user=alice, server="globex", **{k: v for k, v in NEW.items()})
        assert rr.server == "globex"
        filed = rr.events.get()
        assert filed.detail["server"] == "globex"

    def test_with_several_servers_the_server_must_be_named(self, settings, alice):
        settings.KSC_SERVERS = servers("acme", "globex")
        tenants.set_scope(alice, every_server=False, servers=["acme", "globex"])
        with pytest.raises(InvalidRequest) as caught:
            file_request(user=alice, **NEW)
        assert caught.value.errors["server"] == ["Name the KSC server that holds the host: one of acme, globex."]
        assert not ResponseRequest.objects.exists()

    def test_a_user_of_one_server_files_there_by_default(self, settings, alice):
        settings.KSC_SERVERS = servers("acme", "globex")
        tenants.set_scope(alice, every_server=False, servers=["globex"])
        assert file_request(user=alice, **NEW).server == "globex"

    def test_another_tenants_server_reads_like_one_that_does_not_exist(self, settings, alice):
        settings.KSC_SERVERS = servers("acme", "globex")
        tenants.set_scope(alice, every_server=False, servers=["acme"])
        errors = []
        for name in ("globex", "initech"):
            with pytest.raises(InvalidRequest) as caught:
                file_request(user=alice, server=name, **NEW)
            errors.append(caught.value.errors["server"][0].replace(name, "NAME"))
        assert errors[0] == errors[1] == "No KSC server named NAME among yours (acme)."
        assert not ResponseRequest.objects.exists()


class TestApiServerField:
    def test_the_default_is_primary_and_the_answer_names_it(self, api, alice, ksc_queue):
        response = api(alice).post(REQUESTS, NEW, format="json")
        assert response.status_code == 201, response.json()
        assert response.json()["server"] == "primary"
        assert ResponseRequest.objects.get().server == "primary"

    @pytest.mark.parametrize("value", ["initech", 7, ["primary"], ""])
    def test_an_unknown_server_is_a_400_naming_the_field_and_files_nothing(self, api, alice, ksc_queue, value):
        body = {**NEW, "server": value}
        response = api(alice).post(REQUESTS, body, format="json")
        if value == "":
            assert response.status_code == 201  # empty: the default server, like leaving it out
            return
        assert response.status_code == 400, response.json()
        assert set(response.json()["errors"]) == {"server"}
        assert "No KSC server named" in response.json()["errors"]["server"][0]
        assert not ResponseRequest.objects.exists()

    def test_an_analyst_of_one_tenant_cannot_file_on_the_other(self, api, two_tenants):
        acme = two_tenants["acme"]
        before = ResponseRequest.objects.count()
        response = api(acme.analyst).post(REQUESTS, {**NEW, "server": "globex"}, format="json")
        assert response.status_code == 400
        assert response.json()["errors"]["server"] == ["No KSC server named globex among yours (acme)."]
        assert ResponseRequest.objects.count() == before

    def test_an_approver_of_another_tenant_gets_404_and_decides_nothing(self, api, two_tenants):
        pending = two_tenants["globex"].pending
        response = api(two_tenants["acme"].approver).post(f"{REQUESTS}{pending.uuid}/approve/", {}, format="json")
        assert response.status_code == 404
        pending.refresh_from_db()
        assert pending.status == "pending_approval" and not pending.approvals.exists()


def test_the_admin_form_offers_only_configured_servers(settings, db):
    from accounts.admin import ServerScopeForm

    settings.KSC_SERVERS = servers("acme", "globex")
    user = make_user("erin", roles.ANALYSTS)
    form = ServerScopeForm(data={"user": user.pk, "servers": ["initech"]})
    assert not form.is_valid() and "servers" in form.errors
    form = ServerScopeForm(data={"user": user.pk, "servers": ["globex"]})
    assert form.is_valid(), form.errors
    form.save()
    assert ServerScope.objects.get(user=user).servers == ["globex"]
    assert AccountEvent.objects.filter(kind="scope_changed", subject_username="erin").exists()


def test_the_demo_users_of_two_tenants_come_with_their_servers(settings, db):
    from django.contrib.auth.models import User

    settings.KSC_SERVERS = servers("primary", "acme", "globex")
    call_command("create_demo_users", stdout=io.StringIO())
    scopes = {scope.user.username: scope.describe() for scope in ServerScope.objects.select_related("user")}
    assert scopes["ann"] == scopes["arno"] == {"every_server": False, "servers": ["acme"]}
    assert scopes["gina"] == scopes["gus"] == {"every_server": False, "servers": ["globex"]}
    for username in ("alice", "bob", "carol", "dave", "admin"):
        assert scopes[username] == {"every_server": True, "servers": []}
    # Each tenant's people see their own server only.
    assert policy.acting_servers(User.objects.get(username="arno")) == ["acme"]


def test_without_the_tenants_servers_no_tenant_user_is_made(settings, db):
    from django.contrib.auth.models import User

    settings.KSC_SERVERS = servers("primary")
    call_command("create_demo_users", stdout=io.StringIO())
    assert not User.objects.filter(username__in=["ann", "arno", "gina", "gus"]).exists()
