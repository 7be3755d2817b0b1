"""One person, one identity: LDAP and OpenID Connect configured at once (issue 23, points 1, 2, 3, 9, 18).

The suite's real slapd and real OpenID Connect provider, both on for every test here. People
are added to each directory by the test (an LDAP entry with real LDAP operations, a
provider account in the provider's own database) and removed afterwards.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts import directory, roles
from accounts.models import AccountEvent, ApiToken, DirectoryAccount, DirectoryEvent, Source
from accounts.role_groups import parse_role_groups
from accounts.tokens import issue_token
from responses import approvals, policy, workflow
from responses.errors import NotAllowed
from responses.states import Status
from tests.fixtures.accounts import make_user
from tests.fixtures.api import HOST, client_with_token
from tests.fixtures.ldap import PEOPLE, group_dn
from tests.support.filing import file_request

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


@pytest.fixture
def both(ldap_settings, oidc_settings):
    """LDAP and OpenID Connect at once, ROLE_GROUPS naming the groups of both (as an operator would)."""
    from django.conf import settings

    settings.ROLE_GROUPS = parse_role_groups(
        "ROLE_GROUPS",
        '{"Analysts": ["' + group_dn("SOC Analysts") + '", "soc-analysts"],'
        ' "Approvers": ["' + group_dn("SOC Approvers") + '", "soc-approvers"],'
        ' "Auditors": ["' + group_dn("SOC Auditors") + '", "soc-auditors"]}',
    )
    backends = settings.AUTHENTICATION_BACKENDS
    assert "accounts.ldap.DirectoryLDAPBackend" in backends and "accounts.oidc.DirectoryOIDCBackend" in backends
    return settings


@pytest.fixture
def ldap_people(slapd_server):
    """``add(uid, groups, rdn=..., mail=...)``: a person in the directory for this test; removed afterwards."""
    import ldap
    import ldap.modlist

    added: list[tuple[str, list[str]]] = []

    def add(uid: str, groups: list[str], *, rdn: str = "", mail: str = "", password: str = "") -> str:
        dn = f"{rdn or 'uid=' + uid},{PEOPLE}"
        entry = {
            "objectClass": [b"inetOrgPerson"],
            "uid": [uid.encode()],
            "cn": [uid.title().encode()],
            "sn": [b"Example"],
            "userPassword": [(password or f"{uid}-directory-pass").encode()],
        }
        if mail:
            entry["mail"] = [mail.encode()]
        conn = slapd_server.admin()
        try:
            conn.add_s(dn, ldap.modlist.addModlist(entry))
        finally:
            conn.unbind_s()
        for group in groups:
            slapd_server.add_member(group, dn)
        added.append((dn, groups))
        return dn

    yield add
    for dn, groups in added:
        remove_ldap_person(slapd_server, dn, groups)


def remove_ldap_person(slapd_server, dn: str, groups: list[str]) -> None:
    import ldap

    for group in groups:
        try:
            slapd_server.remove_member(group, dn)
        except ldap.NO_SUCH_ATTRIBUTE:
            pass
    conn = slapd_server.admin()
    try:
        conn.delete_s(dn)
    except ldap.NO_SUCH_OBJECT:
        pass
    finally:
        conn.unbind_s()


def add_idp_person(provider, username: str, password: str, groups: list[str], *, email: str = "") -> None:
    """A person at the provider, written into its database as its administrator would (MD5: its test hasher)."""
    salt = secrets.token_hex(8)
    hashed = f"md5${salt}${hashlib.md5((salt + password).encode()).hexdigest()}"  # noqa: S324 (the provider's test hasher)
    with sqlite3.connect(provider.database) as db:
        db.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
            "is_active, date_joined) VALUES (?, 0, ?, ?, '', ?, 0, 1, datetime('now'))",
            (hashed, username, username.split("@")[0].title(), email or f"{username}@idp.example"),
        )
    provider.set_groups(username, groups)


def remove_idp_person(provider, username: str) -> None:
    with sqlite3.connect(provider.database) as db:
        db.execute("DELETE FROM auth_user_groups WHERE user_id IN (SELECT id FROM auth_user WHERE username = ?)", (username,))
        for table in ("oauth2_provider_idtoken", "oauth2_provider_accesstoken", "oauth2_provider_grant"):
            db.execute(f"DELETE FROM {table} WHERE user_id IN (SELECT id FROM auth_user WHERE username = ?)", (username,))  # noqa: S608
        db.execute("DELETE FROM auth_user WHERE username = ?", (username,))
    provider.browsers.pop(username, None)


@pytest.fixture
def idp_people(oidc_provider):
    added: list[str] = []

    def add(username: str, password: str, groups: list[str], **kwargs) -> None:
        add_idp_person(oidc_provider, username, password, groups, **kwargs)
        added.append(username)

    yield add
    for username in added:
        remove_idp_person(oidc_provider, username)


def oidc_sign_in(client, provider, username: str, password: str | None = None):
    response = client.get("/oidc/authenticate/", {"next": "/"})
    assert response.status_code == 302, response.content.decode()[:500]
    callback = provider.authorize(response["Location"], username, password=password)
    return client.get(callback.removeprefix("http://testserver"))


def ldap_sign_in(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def held_roles(user: User) -> set[str]:
    return set(user.groups.filter(name__in=roles.ALL_ROLES).values_list("name", flat=True))


def refusals(username: str) -> list[dict]:
    return [event.detail for event in AccountEvent.objects.filter(kind="sign_in_refused", subject_username=username)]


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- Point 1: one directory never takes over the other's accounts --------------------------------


def test_an_idp_user_of_the_same_name_does_not_get_the_ldap_account(client, both, ldap_people, idp_people, oidc_provider):
    """The attack: IdP carol (an analyst, another person) signed in and got LDAP carol's approver account."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    ldap_people("carol", ["SOC Approvers"])
    idp_people("carol", "carol-idp-pass", ["soc-analysts", "provider:mfa"])
    assert ldap_sign_in(client, "carol", "carol-directory-pass").status_code == 302
    carol = User.objects.get(username="carol")
    assert held_roles(carol) == {roles.APPROVERS}
    TOTPDevice.objects.create(user=carol, name="carol's phone", confirmed=True)
    bound = DirectoryAccount.objects.get(user=carol)
    client.post("/accounts/logout/")

    other = client.__class__()
    response = oidc_sign_in(other, oidc_provider, "carol", "carol-idp-pass")
    assert response.status_code == 403
    page = response.content.decode()
    assert "belongs to a person from LDAP / Active Directory, not from OpenID Connect" in page
    assert "relink_account" in page
    assert not signed_in(other)
    carol.refresh_from_db()
    assert carol.is_active and held_roles(carol) == {roles.APPROVERS}  # her role stayed hers
    assert TOTPDevice.objects.filter(user=carol, confirmed=True).count() == 1  # and her authenticator
    account = DirectoryAccount.objects.get(user=carol)
    assert (account.source, account.subject) == (bound.source, bound.subject) == (Source.LDAP, bound.subject)
    (refused,) = refusals("carol")
    assert AccountEvent.objects.get(kind="sign_in_refused").actor_username == "directory"
    assert refused["source"] == "oidc" and refused["bound_to"] == "ldap"
    assert refused["subject"].startswith(oidc_provider.issuer + "#")
    assert DirectoryEvent.objects.filter(username="carol", action="refused").exists()


def test_an_ldap_user_of_the_same_name_does_not_get_the_idp_account(client, both, ldap_people, oidc_provider):
    """The reverse direction: LDAP olivia (another person) tried the IdP olivia's account."""
    assert oidc_sign_in(client, oidc_provider, "olivia").status_code == 302
    olivia = User.objects.get(username="olivia")
    subject = DirectoryAccount.objects.get(user=olivia).subject
    client.post("/accounts/logout/")

    ldap_people("olivia", ["SOC Approvers"])
    response = ldap_sign_in(client, "olivia", "olivia-directory-pass")
    assert response.status_code == 200
    assert "belongs to a person from OpenID Connect, not from LDAP / Active Directory" in response.content.decode()
    assert not signed_in(client)
    olivia.refresh_from_db()
    assert held_roles(olivia) == {roles.ANALYSTS}  # not the LDAP entry's Approvers
    assert DirectoryAccount.objects.get(user=olivia).subject == subject
    assert refusals("olivia")[0]["bound_to"] == "oidc"


def test_a_local_account_is_taken_by_neither_directory(client, both, ldap_people, oidc_provider):
    make_user("oscar", roles.ANALYSTS)
    ldap_people("oscar", ["SOC Approvers"])
    assert "A local account named oscar already exists" in ldap_sign_in(client, "oscar", "oscar-directory-pass").content.decode()
    response = oidc_sign_in(client, oidc_provider, "oscar")
    assert response.status_code == 403 and "A local account named oscar already exists" in response.content.decode()
    assert not DirectoryAccount.objects.filter(user__username="oscar").exists()


def test_the_same_provider_subject_with_a_new_username_is_refused_not_given_a_second_account(
    client, both, oidc_provider, idp_people
):
    """A person bound to one account cannot make a second one by changing their username at the provider."""
    idp_people("peggy", "peggy-idp-pass", ["soc-analysts"])
    assert oidc_sign_in(client, oidc_provider, "peggy", "peggy-idp-pass").status_code == 302
    client.post("/accounts/logout/")
    with sqlite3.connect(oidc_provider.database) as db:
        db.execute("UPDATE auth_user SET username = 'peggy.new' WHERE username = 'peggy'")
    try:
        oidc_provider.browsers["peggy.new"] = oidc_provider.browsers.pop("peggy")
        response = oidc_sign_in(client, oidc_provider, "peggy.new", "peggy-idp-pass")
        assert response.status_code == 403
        assert "You already have a portal account under another username (peggy)" in response.content.decode()
        assert not User.objects.filter(username="peggy.new").exists()
    finally:
        with sqlite3.connect(oidc_provider.database) as db:
            db.execute("UPDATE auth_user SET username = 'peggy' WHERE username = 'peggy.new'")


def test_the_binding_is_unique_in_the_database(both):
    a = User.objects.create(username="one")
    b = User.objects.create(username="two")
    DirectoryAccount.objects.create(user=a, source=Source.OIDC, subject="https://idp#1")
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        DirectoryAccount.objects.create(user=b, source=Source.OIDC, subject="https://idp#1")


# --- Point 2: a reused username is another person; a leaver's tokens and sessions end --------------


def test_a_new_hire_with_a_leavers_uid_gets_neither_the_account_nor_its_token(client, both, ldap_people, slapd_server):
    dn = ldap_people("frank", ["SOC Analysts"])
    assert ldap_sign_in(client, "frank", "frank-directory-pass").status_code == 302
    frank = User.objects.get(username="frank")
    _token, key = issue_token(frank)
    assert client_with_token(key).get("/api/v1/requests/").status_code == 200
    assert client.get("/").status_code == 200

    remove_ldap_person(slapd_server, dn, ["SOC Analysts"])  # frank leaves
    call_command("sync_directory_roles")
    frank.refresh_from_db()
    assert not frank.is_active
    assert ApiToken.objects.get(user=frank).revoked_at is not None
    assert client_with_token(key).get("/api/v1/requests/").status_code == 401
    assert client.get("/").status_code == 302 and not signed_in(client)  # his session ended
    assert DirectoryEvent.objects.filter(username="frank", action="tokens_revoked").exists()

    ldap_people("frank", ["SOC Analysts"], rdn="cn=Frank New")  # a new hire, another entry, the same uid
    new = client.__class__()
    response = ldap_sign_in(new, "frank", "frank-directory-pass")
    assert response.status_code == 200
    assert "belongs to another person of the directory than you" in response.content.decode()
    assert not signed_in(new)
    frank.refresh_from_db()
    assert not frank.is_active
    assert client_with_token(key).get("/api/v1/requests/").status_code == 401  # the old token stays dead
    assert refusals("frank")[0]["reason"] == "another person of the directory has this username"

    # The administrator renames the leaver's account: the new hire then gets an account of their own.
    frank.username = "frank.left"
    frank.save()
    assert ldap_sign_in(new, "frank", "frank-directory-pass").status_code == 302
    assert User.objects.get(username="frank").pk != frank.pk


def test_sync_treats_an_account_whose_uid_now_names_another_entry_as_gone(client, both, ldap_people, slapd_server):
    dn = ldap_people("gus", ["SOC Analysts"])
    assert ldap_sign_in(client, "gus", "gus-directory-pass").status_code == 302
    remove_ldap_person(slapd_server, dn, ["SOC Analysts"])
    ldap_people("gus", ["SOC Analysts"], rdn="cn=Gus Other")
    call_command("sync_directory_roles")
    gus = User.objects.get(username="gus")
    assert not gus.is_active and held_roles(gus) == set()


def test_an_account_bound_by_dn_before_the_upgrade_moves_to_the_entry_id_once(client, both, ldap_people):
    dn = ldap_people("hank", ["SOC Analysts"])
    hank = User.objects.create(username="hank")
    DirectoryAccount.objects.create(user=hank, source=Source.LDAP, subject="dn:" + dn.lower())
    assert ldap_sign_in(client, "hank", "hank-directory-pass").status_code == 302
    assert DirectoryAccount.objects.get(user=hank).subject.startswith("entryUUID:")
    assert DirectoryEvent.objects.filter(username="hank", action="rebound").exists()


def test_relink_account_moves_a_binding_deliberately_and_is_audited(client, both, ldap_people, slapd_server):
    dn = ldap_people("ivy", ["SOC Analysts"])
    assert ldap_sign_in(client, "ivy", "ivy-directory-pass").status_code == 302
    ivy = User.objects.get(username="ivy")
    _token, key = issue_token(ivy)
    remove_ldap_person(slapd_server, dn, ["SOC Analysts"])
    new_dn = ldap_people("ivy", ["SOC Analysts"], rdn="cn=Ivy Moved")  # the same person, recreated by IT
    other = client.__class__()
    assert "belongs to another person" in ldap_sign_in(other, "ivy", "ivy-directory-pass").content.decode()

    with pytest.raises(CommandError, match="not a subject"):
        call_command("relink_account", "ivy", "--source", "ldap", "--subject", "whatever")
    with pytest.raises(CommandError, match="no user"):
        call_command("relink_account", "nobody", "--source", "ldap", "--dn", new_dn)
    call_command("relink_account", "ivy", "--source", "ldap", "--dn", new_dn, "--reason", "ticket 42")
    account = DirectoryAccount.objects.get(user=ivy)
    assert account.subject.startswith("entryUUID:")
    event = AccountEvent.objects.get(kind="identity_relinked", subject_username="ivy")
    assert event.detail["after"]["subject"] == account.subject and event.detail["reason"] == "ticket 42"
    assert event.detail["tokens_revoked"] == 1
    assert client_with_token(key).get("/api/v1/requests/").status_code == 401  # the old binding's token
    assert ldap_sign_in(other, "ivy", "ivy-directory-pass").status_code == 302


def test_relink_account_refuses_a_local_account_and_a_subject_bound_elsewhere(both):
    make_user("local-admin", roles.ANALYSTS)
    with pytest.raises(CommandError, match="local account"):
        call_command("relink_account", "local-admin", "--source", "oidc", "--subject", "abc")
    a = User.objects.create(username="ann")
    b = User.objects.create(username="ben")
    DirectoryAccount.objects.create(user=a, source=Source.OIDC, subject=f"{both.OIDC_ISSUER}#1")
    DirectoryAccount.objects.create(user=b, source=Source.OIDC, subject=f"{both.OIDC_ISSUER}#2")
    with pytest.raises(CommandError, match="bound to 'ann' already"):
        call_command("relink_account", "ben", "--source", "oidc", "--subject", "1")
    assert DirectoryAccount.objects.get(user=b).subject.endswith("#2")
    assert not AccountEvent.objects.filter(kind="identity_relinked").exists()


# --- Point 9: "no mapped group" ends the account's access --------------------------------------------


def test_an_oidc_user_refused_for_no_mapped_group_loses_roles_tokens_and_sessions(client, both, oidc_provider):
    assert oidc_sign_in(client, oidc_provider, "opal").status_code == 302
    opal = User.objects.get(username="opal")
    _token, key = issue_token(opal)
    assert client.get("/").status_code == 200
    oidc_provider.set_groups("opal", ["marketing"])
    try:
        other = client.__class__()
        response = oidc_sign_in(other, oidc_provider, "opal")
        assert response.status_code == 403
        assert "not in any group that gives a role in this portal" in response.content.decode()
        opal.refresh_from_db()
        assert not opal.is_active and held_roles(opal) == set()
        assert client_with_token(key).get("/api/v1/requests/").status_code == 401
        assert client.get("/").status_code == 302 and not signed_in(client)
        assert refusals("opal")[0]["reason"].startswith("in no mapped group")
        assert AccountEvent.objects.filter(kind="user_changed", subject_username="opal").exists()  # is_active
    finally:
        oidc_provider.set_groups("opal", ["soc-analysts", "soc-auditors"])


def test_an_ldap_user_refused_for_no_mapped_group_is_deactivated(client, both, ldap_people, slapd_server):
    dn = ldap_people("jill", ["SOC Analysts"])
    assert ldap_sign_in(client, "jill", "jill-directory-pass").status_code == 302
    slapd_server.remove_member("SOC Analysts", dn)
    slapd_server.add_member("Marketing", dn)
    try:
        response = ldap_sign_in(client.__class__(), "jill", "jill-directory-pass")
        assert "not in any group that gives a role" in response.content.decode()
        jill = User.objects.get(username="jill")
        assert not jill.is_active and held_roles(jill) == set()
        assert refusals("jill")
    finally:
        slapd_server.remove_member("Marketing", dn)
        slapd_server.add_member("SOC Analysts", dn)


# --- Point 3: one person with an account in each directory is one person -----------------------------


@pytest.fixture
def linked(both):
    from accounts.identity_link import parse_link_attribute

    both.IDENTITY_LINK_ATTRIBUTE = parse_link_attribute("IDENTITY_LINK_ATTRIBUTE", "ldap:mail oidc:preferred_username")
    return both


def test_one_person_cannot_approve_their_own_request_with_their_other_account(
    client, linked, ldap_people, idp_people, oidc_provider
):
    """grace files with her LDAP account (sAMAccountName) and approves with her OIDC one (UPN)."""
    ldap_people("grace", ["SOC Analysts", "SOC Approvers"], mail="Grace@corp.example")
    idp_people("grace@corp.example", "grace-idp-pass", ["soc-approvers"])
    assert ldap_sign_in(client, "grace", "grace-directory-pass").status_code == 302
    assert oidc_sign_in(client.__class__(), oidc_provider, "grace@corp.example", "grace-idp-pass").status_code == 302
    ldap_grace = User.objects.get(username="grace")
    idp_grace = User.objects.get(username="grace@corp.example")
    assert DirectoryAccount.objects.get(user=ldap_grace).person == "grace@corp.example"
    assert policy.same_person(ldap_grace, idp_grace) and policy.same_person(idp_grace.pk, ldap_grace.pk)

    rr = file_request(user=ldap_grace, task="isolateHost", target_host=HOST, params={"action": 1}, justification="x")
    verdict = policy.may(idp_grace, policy.APPROVE, rr)
    assert not verdict and "their own request" in verdict.reason
    assert not policy.may_decide(idp_grace, rr)
    with pytest.raises(NotAllowed):
        workflow.approve(rr, user=idp_grace)
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL


def test_two_accounts_of_one_person_count_as_one_approval(
    client, linked, ldap_people, idp_people, oidc_provider, alice, settings
):
    ldap_people("hugo", ["SOC Approvers"], mail="hugo@corp.example")
    idp_people("hugo@corp.example", "hugo-idp-pass", ["soc-approvers"])
    ldap_sign_in(client, "hugo", "hugo-directory-pass")
    oidc_sign_in(client.__class__(), oidc_provider, "hugo@corp.example", "hugo-idp-pass")
    ldap_hugo, idp_hugo = User.objects.get(username="hugo"), User.objects.get(username="hugo@corp.example")
    settings.APPROVALS_REQUIRED_BY_TASK = {"isolateHost": 2}  # frozen at filing: set before it
    rr = file_request(user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="x")
    assert rr.approvals_required == 2
    workflow.approve(rr, user=ldap_hugo)
    assert not policy.may(idp_hugo, policy.APPROVE, rr)
    with pytest.raises(Exception, match="already approved"):
        workflow.approve(rr, user=idp_hugo)
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL


def test_the_approvals_count_keys_approvers_by_linked_person(linked, alice):
    """Even rows written around the policy (by hand in the database) count one person once."""
    from responses.models import Decision, DecisionKind

    ldap_ann, idp_ann, bob_ldap = (User.objects.create(username=name) for name in ("ann", "ann@corp", "bo"))
    for user, source, person in ((ldap_ann, Source.LDAP, "ann@corp"), (idp_ann, Source.OIDC, "ann@corp")):
        DirectoryAccount.objects.create(user=user, source=source, subject=f"{source}-{user.pk}", person=person)
    DirectoryAccount.objects.create(user=bob_ldap, source=Source.LDAP, subject="ldap-bo", person="bo@corp")
    rr = file_request(user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="x")
    for user in (ldap_ann, idp_ann):
        Decision.objects.create(
            request=rr, approver=user, approver_username=user.username, decision=DecisionKind.APPROVE,
            fingerprint=rr.fingerprint,
        )
    assert len(approvals.approving_people(rr, rr.approvals.all())) == 1
    Decision.objects.create(
        request=rr, approver=bob_ldap, approver_username="bo", decision=DecisionKind.APPROVE, fingerprint=rr.fingerprint
    )
    assert sorted(approvals.approving_people(rr, rr.approvals.all()).values()) in (["ann", "bo"], ["ann@corp", "bo"])


def test_a_linked_sign_in_without_the_link_value_is_refused(client, linked, ldap_people):
    ldap_people("kim", ["SOC Analysts"])  # no mail
    response = ldap_sign_in(client, "kim", "kim-directory-pass")
    assert "has no mail, which the portal needs" in response.content.decode()
    assert not User.objects.filter(username="kim").exists()


def test_the_portal_refuses_to_start_with_both_sources_giving_approvers_and_no_link(both):
    from django.core import checks

    errors = [e for e in checks.run_checks() if e.id == "accounts.E001"]
    assert len(errors) == 1 and "IDENTITY_LINK_ATTRIBUTE is not set" in errors[0].msg
    with pytest.raises(Exception, match="accounts.E001"):
        call_command("check")
    from accounts.identity_link import parse_link_attribute

    both.IDENTITY_LINK_ATTRIBUTE = parse_link_attribute("IDENTITY_LINK_ATTRIBUTE", "mail")
    assert not [e for e in checks.run_checks() if e.id == "accounts.E001"]
    both.IDENTITY_LINK_ATTRIBUTE = {}
    both.OIDC_ISSUER = ""
    assert not [e for e in checks.run_checks() if e.id == "accounts.E001"]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("ldap:mail ldap:uid", "ldap is given twice"),
        ("saml:mail", "'saml' is not a source"),
        ("mail upn", "give one name for both sources"),
        ("ldap:ma il", "give one name"),
        ("ldap:$x", "is not an attribute"),
    ],
)
def test_a_bad_link_attribute_is_refused_at_start(value, error):
    import re

    from django.core.exceptions import ImproperlyConfigured

    from accounts.identity_link import parse_link_attribute

    with pytest.raises(ImproperlyConfigured, match="IDENTITY_LINK_ATTRIBUTE: .*" + re.escape(error)):
        parse_link_attribute("IDENTITY_LINK_ATTRIBUTE", value)


def test_an_unverified_email_claim_is_no_link(client, linked, oidc_provider):
    """The provider sends ``email`` with ``email_verified`` false: anyone could have typed that address."""
    from accounts.identity_link import parse_link_attribute
    from tests.fixtures.oidc import PEOPLE

    linked.IDENTITY_LINK_ATTRIBUTE = parse_link_attribute("IDENTITY_LINK_ATTRIBUTE", "ldap:mail oidc:email")
    oidc_provider.set_groups("olivia", [*PEOPLE["olivia"][1], "provider:email-unverified"])
    try:
        response = oidc_sign_in(client, oidc_provider, "olivia")
    finally:
        oidc_provider.set_groups("olivia", PEOPLE["olivia"][1])
    assert response.status_code == 403 and "has no email, which the portal needs" in response.content.decode()
    assert not User.objects.filter(username="olivia").exists()


def test_ldap_id_attribute_chooses_what_an_account_is_bound_to(client, both, ldap_people, caplog):
    dn = ldap_people("lou", ["SOC Analysts"])
    both.LDAP_ID_ATTRIBUTE = "dn"
    assert ldap_sign_in(client, "lou", "lou-directory-pass").status_code == 302
    assert DirectoryAccount.objects.get(user__username="lou").subject == "dn:" + dn.lower()
    ldap_people("mo", ["SOC Analysts"])
    both.LDAP_ID_ATTRIBUTE = "employeeNumber"  # not on this entry: bound by its DN, and the log says so
    assert ldap_sign_in(client.__class__(), "mo", "mo-directory-pass").status_code == 302
    assert DirectoryAccount.objects.get(user__username="mo").subject.startswith("dn:uid=mo,")
    assert "has no employeeNumber (LDAP_ID_ATTRIBUTE); bound by its DN" in caplog.text


# --- Point 18: invisible characters ------------------------------------------------------------------


def test_a_directory_username_with_an_invisible_character_is_refused(client, both, ldap_people):
    ldap_people("oscar\u200b", ["SOC Approvers"], rdn="cn=Oscar Lookalike")
    response = ldap_sign_in(client, "oscar\u200b", "oscar\u200b-directory-pass")
    assert "contains a character nobody can see (U+200B ZERO WIDTH SPACE)" in response.content.decode()
    assert not User.objects.filter(username__startswith="oscar").exists()


@pytest.mark.parametrize("raw", ["oscar\u200b", "os\u202ecar", "oscar\u2060", "o\u2800scar", "\u3164oscar"])
def test_clean_username_refuses_hidden_characters(raw):
    with pytest.raises(directory.DirectoryRefusal):
        directory.clean_username(None, raw)


def test_clean_username_folds_compatibility_forms():
    assert directory.clean_username(None, " \uff2fscar ") == "oscar"  # full-width O, as the binding then compares


def test_pages_mark_hidden_characters_in_usernames(client, login, alice, dave):
    sneaky = make_user("bob\u200b", roles.APPROVERS)
    rr = file_request(user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="x")
    workflow.reject(rr, user=sneaky, comment="no")
    login(client, alice)
    page = client.get(f"/requests/{rr.uuid}/").content.decode()
    marked = '<span class="unusual" title="U+200B ZERO WIDTH SPACE">[U+200B]</span>'
    assert f"bob{marked}" in page  # the decision's "who" and the trail's "by"
    assert "bob\u200b" not in page
    client.post("/accounts/logout/")
    login(client, dave)
    trail = client.get("/audit/accounts/").content.decode()
    assert f"bob{marked}" in trail and "bob\u200b" not in trail
    client.post("/accounts/logout/")
    client.force_login(sneaky)  # the password only: the header and the code page show the name
    assert f"bob{marked}" in client.get("/", follow=True).content.decode()


# --- The directory's own events are append-only; the upgrade keeps old bindings ------------------------


def test_directory_events_cannot_be_changed_or_deleted(db):
    from django.db import DatabaseError, connection, transaction

    event = DirectoryEvent.objects.create(username="zed", source="ldap", action="created", detail="from ldap")
    with pytest.raises(DatabaseError, match="cannot be changed or deleted"), transaction.atomic():
        DirectoryEvent.objects.filter(pk=event.pk).update(detail="nothing happened")
    if connection.vendor == "postgresql":  # SQLite: UPDATE only (a DELETE trigger would stop the test flush)
        with pytest.raises(DatabaseError, match="cannot be changed or deleted"), transaction.atomic():
            DirectoryEvent.objects.filter(pk=event.pk).delete()
    assert DirectoryEvent.objects.get(pk=event.pk).detail == "from ldap"


def test_the_upgrade_keeps_ldap_bindings_as_dns_and_stops_on_two_accounts_of_one_subject(postgres, latest_schema_afterwards):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from tests.fixtures.database import migrate_to

    before = [("accounts", "0002_api_token_from_responses")]
    after = [("accounts", "0003_identity_binding")]
    old = migrate_to(before)
    OldUser, OldAccount = old.get_model("auth", "User"), old.get_model("accounts", "DirectoryAccount")
    lee = OldUser.objects.create(username="lee")
    OldAccount.objects.create(user=lee, source="ldap", subject="uid=Lee,ou=People,dc=corp,dc=example")
    eve = OldUser.objects.create(username="eve")
    OldAccount.objects.create(user=eve, source="oidc", subject="https://idp#7")
    migrate_to(after)
    assert DirectoryAccount.objects.get(user_id=lee.pk).subject == "dn:uid=lee,ou=people,dc=corp,dc=example"
    assert DirectoryAccount.objects.get(user_id=eve.pk).subject == "https://idp#7"

    old = migrate_to(before)
    OldUser, OldAccount = old.get_model("auth", "User"), old.get_model("accounts", "DirectoryAccount")
    assert OldAccount.objects.get(user_id=lee.pk).subject == "uid=lee,ou=people,dc=corp,dc=example"
    twin = OldUser.objects.create(username="eve2")
    OldAccount.objects.create(user=twin, source="oidc", subject="https://idp#7")
    with pytest.raises(RuntimeError, match="'eve' and 'eve2' are bound to the same oidc subject"):
        migrate_to(after)
    OldAccount.objects.filter(user=twin).delete()
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    assert ("accounts", "0003_identity_binding") not in executor.loader.applied_migrations


def test_manage_py_refuses_to_start_with_both_sources_giving_approvers_and_no_link():
    """A real start: manage.py in a fresh process, from the environment an operator would write."""
    import json

    from tests.support.subprocesses import settings_in_subprocess

    both_sources = {
        "DEBUG": "true",
        "LDAP_SERVER_URI": "ldaps://dc1.corp.example",
        "LDAP_USER_SEARCH_BASE": "OU=Users,DC=corp,DC=example",
        "LDAP_GROUP_SEARCH_BASE": "OU=Groups,DC=corp,DC=example",
        "OIDC_ISSUER": "https://login.example.com/tenant/v2.0",
        "OIDC_CLIENT_ID": "edr-portal",
        "OIDC_CLIENT_SECRET": "not-a-real-secret",
        "ROLE_GROUPS": json.dumps({"Analysts": ["soc-analysts"], "Approvers": ["CN=SOC Approvers,DC=corp"]}),
        "IDENTITY_LINK_ATTRIBUTE": "",
    }
    refused = settings_in_subprocess(both_sources)
    assert refused.returncode != 0
    assert "accounts.E001" in refused.stderr and "IDENTITY_LINK_ATTRIBUTE is not set" in refused.stderr
    started = settings_in_subprocess({**both_sources, "IDENTITY_LINK_ATTRIBUTE": "ldap:userPrincipalName oidc:upn"})
    assert started.returncode == 0, started.stderr[-2000:]
    bad = settings_in_subprocess({**both_sources, "IDENTITY_LINK_ATTRIBUTE": "saml:upn"})
    assert bad.returncode != 0 and "IDENTITY_LINK_ATTRIBUTE: 'saml' is not a source" in bad.stderr


def test_the_admin_shows_bindings_read_only(client, login, root):
    lee = User.objects.create(username="lee")
    account = DirectoryAccount.objects.create(user=lee, source=Source.LDAP, subject="entryUUID:1", person="lee@corp")
    login(client, root)
    page = client.get(f"/admin/accounts/directoryaccount/{account.pk}/change/").content.decode()
    assert "entryUUID:1" in page and "lee@corp" in page
    assert 'name="subject"' not in page and 'name="person"' not in page
