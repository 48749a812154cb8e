"""README.md and docs/*.md: every relative link and every repo path they name exists, and no line is in two places.

Fast (no imports of m2t, no Ray): it only reads the markdown files and looks at the tree.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
IDS = [str(p.relative_to(REPO)) for p in PAGES]

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# A repo path: starts with one of the top-level folders, not inside a longer path or URL (`/mnt/shared/m2t/...`).
PATH = re.compile(r"(?<![\w/.~$-])((?:m2t|jobs|docs|cluster|tests)/[\w./*{},<>:$-]*)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"(?ms)^```.*?^```", "", page.read_text())  # headings inside code blocks are not headings
    seen, found = {}, set()
    for heading in re.findall(r"(?m)^#{1,6} (.+)$", text):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def expand(path: str) -> list[str]:
    """`cluster/{aws,gcp}.yaml` -> both; other paths as they are."""
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    return [p for alt in m.group(1).split(",") for p in expand(path[: m.start()] + alt + path[m.end() :])]


def named_paths(page: Path) -> set[str]:
    found = set()
    for raw in PATH.findall(page.read_text()):
        path = raw.split("::")[0].rstrip(".,:;")
        if "<" in path or "$" in path:  # a placeholder: m2t-<version>.zip, rayjob-$j.yaml
            continue
        found.update(expand(path))
    return found


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(REPO)} (has {sorted(anchors(dest))})")
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_named_repo_path_exists(page):
    missing = []
    for path in sorted(named_paths(page)):
        matches = list(REPO.glob(path)) if "*" in path else [REPO / path]
        if not matches or not all(m.exists() for m in matches):
            missing.append(path)
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_named_test_exists(page):
    """`tests/x.py::test_name` names a test that is in that file."""
    missing = []
    for file, name in re.findall(r"(tests/[\w/]+\.py)::(\w+)", page.read_text()):
        if (REPO / file).is_file() and not re.search(rf"def {name}\(", (REPO / file).read_text()):
            missing.append(f"{file}::{name}")
    assert missing == []


def prose_lines(page: Path) -> set[str]:
    """Lines long enough to hold a fact (short ones such as `---`, a fence or a heading may repeat)."""
    return {line.strip() for line in page.read_text().splitlines() if len(line.strip()) >= 60}


PAIRS = list(itertools.combinations(PAGES, 2))


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=[f"{x.name}-{y.name}" for x, y in PAIRS])
def test_no_line_is_in_two_places(a, b):
    """Each detail lives once: the README links to docs/<area>.md instead of repeating it, and pages link each other."""
    assert sorted(prose_lines(a) & prose_lines(b)) == []
