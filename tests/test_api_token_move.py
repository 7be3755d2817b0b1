"""Upgrading to the release where ApiToken lives in the accounts app: the tokens already issued keep working.

The move is state-only (accounts 0002, responses 0016): the table, its rows and the
key hashes stay put. The content type is renamed, not replaced, so the audit log's
entries about who issued and revoked a token stay attached to that token.
"""

from __future__ import annotations

import hashlib
import secrets

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from accounts import roles
from accounts.models import ApiToken
from tests.fixtures.api import REQUESTS, client_with_token
from tests.fixtures.database import migrate_to

BEFORE = [("responses", "0015_list_indexes"), ("accounts", "0001_directory")]
AFTER = [("responses", "0016_api_token_to_accounts"), ("accounts", "0002_api_token_from_responses")]

pytestmark = pytest.mark.usefixtures("latest_schema_afterwards")


def _token_issued_by_the_old_release(apps, analyst_role) -> tuple[int, str, int]:
    """A token row, its content type and an audit entry, as the release before the move left them."""
    User = apps.get_model("auth", "User")
    Group = apps.get_model("auth", "Group")
    OldToken = apps.get_model("responses", "ApiToken")
    OldContentType = apps.get_model("contenttypes", "ContentType")
    OldLogEntry = apps.get_model("auditlog", "LogEntry")
    user = User.objects.create(username="legacy-siem")
    user.groups.add(Group.objects.get_or_create(name=analyst_role)[0])  # a flushed test database has no groups
    key = "edr_" + secrets.token_urlsafe(32)
    token = OldToken.objects.create(
        user=user, name="KUMA", key_prefix=key[:10], key_hash=hashlib.sha256(key.encode()).hexdigest(), scope="file"
    )
    content_type, _ = OldContentType.objects.get_or_create(app_label="responses", model="apitoken")
    OldLogEntry.objects.create(
        content_type=content_type, object_pk=str(token.pk), object_id=token.pk, object_repr="issued", action=0,
        changes_text="", changes={"name": [None, "KUMA"]},
    )
    return token.pk, key, content_type.pk


@pytest.mark.django_db(transaction=True)
def test_a_token_issued_before_the_move_still_authenticates_and_keeps_its_audit_entries():
    old = migrate_to(BEFORE)
    pk, key, content_type_pk = _token_issued_by_the_old_release(old, roles.ANALYSTS)

    migrate_to(AFTER)
    ContentType.objects.clear_cache()
    token = ApiToken.objects.get(pk=pk)
    assert (token.user.username, token.name, token.key_hash) == (
        "legacy-siem", "KUMA", hashlib.sha256(key.encode()).hexdigest()
    )
    # The same key still opens the API: nobody has to reissue the SIEM's token at the upgrade.
    assert client_with_token(key).get(REQUESTS).status_code == 200
    # Same content type row, now the accounts app's: the old audit entries are this token's history.
    assert ContentType.objects.get_for_model(ApiToken).pk == content_type_pk
    assert [entry.object_repr for entry in LogEntry.objects.get_for_object(token)][-1] == "issued"
    assert not ContentType.objects.filter(app_label="responses", model="apitoken").exists()


@pytest.mark.django_db(transaction=True)
def test_the_move_can_be_undone_without_losing_a_token():
    old = migrate_to(BEFORE)
    pk, key, content_type_pk = _token_issued_by_the_old_release(old, roles.ANALYSTS)
    migrate_to(AFTER)

    back = migrate_to(BEFORE)
    assert back.get_model("responses", "ApiToken").objects.get(pk=pk).key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert back.get_model("contenttypes", "ContentType").objects.get(pk=content_type_pk).app_label == "responses"
