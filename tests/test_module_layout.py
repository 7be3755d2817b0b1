"""One home for each concern: the apps stand in one order, the transition table is the only way a
status changes, and no import cycles.

The apps' order (docs/architecture.md, "The apps' order"): an app imports only the apps below it,
never one above it, and never a private name (``_x``) of another app. workflow.py used to hold
filing, decisions, the submission's transitions, queueing and the trail, and jobs.py and
workflow.py imported each other (late imports dodged it).
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
DOMAIN = ("models", "workflow", "submission", "queueing", "trail", "jobs", "outcomes", "request_chain", "catalog")


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


# Highest first. Each app may import the apps after it; apps of one rank import neither each other nor above.
APP_ORDER: tuple[tuple[str, ...], ...] = (
    ("portal",),
    ("campaigns",),
    ("notifications",),
    ("responses",),
    ("accounts",),
    ("audit",),
    ("worker",),
    ("ksc_client", "ksc_simulator"),
)
RANK = {app: rank for rank, apps in enumerate(APP_ORDER) for app in apps}
# The environment readers the settings are made of: they import no app, and an app may use them to
# read a settings value's structure (responses/ksc_servers.py reads KSC_SERVERS as KscServer).
SETTINGS_READERS = ("portal.env", "portal.ksc_servers")


def _app_of(module: str) -> str | None:
    top = module.split(".", 1)[0]
    return top if top in RANK else None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layout_problems(root: Path = ROOT) -> list[str]:
    """Every import that runs up the apps' order, and every private name one app takes from another."""
    problems: list[str] = []
    for app in RANK:
        base = root / app
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            where = path.relative_to(root)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            package = _module_name(path, root)
            if path.name != "__init__.py":
                package = package.rsplit(".", 1)[0]
            foreign_modules: set[str] = set()  # local names bound to another app's module
            for node in ast.walk(tree):
                targets: list[tuple[str, list[ast.alias]]] = []
                if isinstance(node, ast.ImportFrom):
                    module = node.module or ""
                    if node.level:  # relative: resolve against this file's package
                        anchor = package.split(".")
                        anchor = anchor[: len(anchor) - node.level + 1]
                        module = ".".join([*anchor, module] if module else anchor)
                    targets.append((module, node.names))
                elif isinstance(node, ast.Import):
                    targets.extend((alias.name, []) for alias in node.names)
                for module, names in targets:
                    other = _app_of(module)
                    if other is None or other == app or module in SETTINGS_READERS:
                        continue
                    if RANK[other] <= RANK[app]:
                        problems.append(f"{where}:{node.lineno}: {app} imports {module}, which stands above or beside it")
                    for alias in names:
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            problems.append(f"{where}:{node.lineno}: {app} imports the private {module}.{alias.name}")
                        else:
                            foreign_modules.add(alias.asname or alias.name)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id in foreign_modules
                    and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                ):
                    problems.append(f"{where}:{node.lineno}: {app} uses the private {node.value.id}.{node.attr}")
    return problems


def test_no_import_runs_up_the_apps_order_and_no_private_name_crosses_an_app():
    problems = layout_problems()
    assert not problems, "the apps' order (docs/architecture.md):\n" + "\n".join(problems)


def test_the_layout_check_catches_an_import_up_the_order_and_a_private_name(tmp_path):
    """The check itself: a worker module importing the requests, and a private name taken across apps."""
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "bad.py").write_text("from responses.models import ResponseRequest\n")
    (tmp_path / "notifications").mkdir()
    (tmp_path / "notifications" / "jobs.py").write_text(
        "from responses.jobs import _job_is_alive\nfrom responses import jobs\njobs._queued_job_is_stranded\n"
    )
    (tmp_path / "accounts").mkdir()
    (tmp_path / "accounts" / "fine.py").write_text("from audit import chain\nfrom accounts import _own\n")

    assert layout_problems(tmp_path) == [
        "notifications/jobs.py:1: notifications imports the private responses.jobs._job_is_alive",
        "notifications/jobs.py:3: notifications uses the private jobs._queued_job_is_stranded",
        "worker/bad.py:1: worker imports responses.models, which stands above or beside it",
    ]


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


def test_the_language_switch_is_the_accounts_and_keeps_its_url():
    from django.urls import resolve, reverse

    from accounts import language

    assert reverse("set_language") == "/i18n/setlang/"
    assert resolve("/i18n/setlang/").func is language.set_language
