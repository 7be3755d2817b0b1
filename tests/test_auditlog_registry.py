"""Field-level history (django-auditlog): each app registers its own models; accounts registers users and groups."""

from __future__ import annotations

import ast
from pathlib import Path

from auditlog.registry import auditlog
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.models import ApiToken
from responses.models import Decision, ResponseRequest

ROOT = Path(__file__).resolve().parent.parent


def test_every_audited_model_is_registered_and_secrets_are_left_out():
    for model in (get_user_model(), Group, ApiToken, ResponseRequest, Decision):
        assert auditlog.contains(model), model
    user_fields = auditlog.get_model_fields(get_user_model())
    assert {"password", "last_login"} <= set(user_fields["exclude_fields"])
    assert "key_hash" in auditlog.get_model_fields(ApiToken)["exclude_fields"]


def test_responses_registers_no_account_model():
    tree = ast.parse((ROOT / "responses" / "models.py").read_text(encoding="utf-8"))
    registered = [
        ast.unparse(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "auditlog.register"
    ]
    assert registered == ["ResponseRequest", "Decision"]
