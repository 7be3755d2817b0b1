"""One home for each concern: the transition table is the only way a status changes, and no import cycles.

workflow.py used to hold filing, decisions, the submission's transitions, queueing and
the trail, and jobs.py and workflow.py imported each other (late imports dodged it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser

from responses import policy, submission, workflow
from responses.models import Decision, EventKind, RequestEvent, ResponseRequest, Status
from tests.fixtures.api import file

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ("models", "workflow", "submission", "queueing", "trail", "jobs", "outcomes", "audit_chain", "catalog")


def _imports(module: str) -> set[str]:
    """The responses.* modules ``module`` imports anywhere in its body (top level or inside functions)."""
    tree = ast.parse((ROOT / "responses" / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "responses":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("responses."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("responses."))
    return found & set(DOMAIN)


def test_the_transitions_and_queueing_never_import_the_jobs():
    for module in ("workflow", "submission", "queueing", "trail", "models"):
        assert "jobs" not in _imports(module), f"responses.{module} imports responses.jobs"


def test_the_domain_modules_import_each_other_without_cycles():
    graph = {module: _imports(module) - {module} for module in DOMAIN}
    done: set[str] = set()

    def walk(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, "import cycle: " + " -> ".join((*path, module))
        if module in done:
            return
        for imported in graph[module]:
            walk(imported, (*path, module))
        done.add(module)

    for module in DOMAIN:
        walk(module, ())


def test_a_move_the_table_does_not_list_is_refused_and_changes_nothing(alice, bob):
    rr = workflow.approve(file(alice), user=bob)
    assert (Status.APPROVED, workflow.REJECT) not in workflow.TRANSITIONS
    events = RequestEvent.objects.filter(request=rr).count()
    with pytest.raises(workflow.WrongStatus):
        workflow.transition(rr, workflow.REJECT, actor="bob")
    rr = ResponseRequest.objects.get(pk=rr.pk)
    assert rr.status == Status.APPROVED
    assert RequestEvent.objects.filter(request=rr).count() == events


def test_each_submission_event_has_its_own_kind(alice, bob):
    rr = workflow.approve(file(alice), user=bob)
    _, attempt = submission.claim_for_submission(rr.uuid)
    submission.submission_failed(rr.uuid, attempt, "KSC did not answer.", will_retry=True, retry_in=30)
    kinds = list(rr.events.order_by("seq").values_list("kind", flat=True))
    assert kinds[-2:] == [EventKind.CLAIMED, EventKind.RETRY_SCHEDULED]
    assert EventKind.ATTEMPT not in kinds


def test_rows_of_the_old_attempt_kind_stay_readable():
    assert EventKind("attempt").label == "Submission attempt"
    assert RequestEvent(kind="attempt").get_kind_display() == "Submission attempt"


def test_decisions_keep_the_table_the_triggers_guard():
    assert Decision._meta.db_table == "responses_approval"
    # The answer to "may this user do this?" no longer shares a name with django.contrib.auth's Permission.
    assert not hasattr(policy, "Permission") and not hasattr(workflow, "Permission")
    assert policy.may(AnonymousUser(), policy.FILE).__class__ is policy.Verdict
