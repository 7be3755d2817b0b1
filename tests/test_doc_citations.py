"""Comments and docs cite only documents a clone has: docs/<file>.md, never the team's private spec pages."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".venv", ".git", "node_modules", "staticfiles", ".run"}
PRIVATE = re.compile(
    r"spec/(?:ksc-openapi|edr-responses|ksc-tasks|ksc-hierarchy)\.md|\.\./shared|(?<![\w/-])ksc-tasks\.md"
    r"|(?<![\w/-])(?:DESIGN|STYLE)\.md"
)
CITED = re.compile(r"docs/([\w-]+\.md)")


def text_files():
    for path in ROOT.rglob("*"):
        if path.suffix in {".py", ".md", ".html", ".txt", ".toml"} and not SKIP & set(path.relative_to(ROOT).parts):
            yield path


def test_nothing_cites_a_document_outside_the_repository():
    this = Path(__file__).resolve()
    offenders = {
        str(path.relative_to(ROOT)): PRIVATE.findall(path.read_text(encoding="utf-8", errors="replace"))
        for path in text_files()
        if path.resolve() != this
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_every_cited_doc_exists():
    cited = {
        name for path in text_files() for name in CITED.findall(path.read_text(encoding="utf-8", errors="replace"))
    }
    assert cited, "no docs/ citation found: the pattern is wrong"
    assert sorted(name for name in cited if not (ROOT / "docs" / name).exists()) == []


def test_the_pattern_catches_the_old_citations():
    assert PRIVATE.findall("see spec/ksc-openapi.md and (ksc-tasks.md) and ../shared/x.md") == [
        "spec/ksc-openapi.md",
        "ksc-tasks.md",
        "../shared",
    ]
    assert PRIVATE.findall("as DESIGN.md draws it (STYLE.md); spec/ksc-hierarchy.md") == [
        "DESIGN.md",
        "STYLE.md",
        "spec/ksc-hierarchy.md",
    ]
