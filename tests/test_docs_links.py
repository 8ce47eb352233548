"""Every relative link in README.md and docs/*.md leads to a file that exists (and to a heading
of it when the link names one), so moving a page or renaming a heading cannot leave a dead link."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs_pages import DOCS, ROOT

PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.M)


def anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces become hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(h) for h in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8")))}


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def dead_links(page: Path) -> list[str]:
    """The relative links of PAGE whose file, or heading within it, does not exist."""
    dead = []
    for target in relative_links(page):
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        missing = not linked.exists()
        if missing or (fragment and linked.suffix == ".md" and fragment not in anchors(linked)):
            dead.append(target)
    return dead


def test_every_relative_link_in_the_readme_and_docs_leads_somewhere():
    assert len(PAGES) > 5, "the docs pages are missing"
    for page in PAGES:
        assert dead_links(page) == [], page.name
    # the README links every docs page, so none is left unreachable
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(ROOT / "README.md")}
    assert set(DOCS.glob("*.md")) <= linked


def test_the_link_check_finds_a_dead_file_and_a_dead_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## `check`: a network's gradients\n",
                                       encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("# Page\n[ok](other.md#check-a-networks-gradients) [top](#page)\n"
                    "[gone](missing.md) [gone too](missing.md#x)\n"
                    "[bad heading](other.md#nope) [here](#nowhere)\n"
                    "[web](https://example.com/x.md)\n```\n[in code](not-a-link.md)\n```\n",
                    encoding="utf-8")
    assert dead_links(page) == ["missing.md", "missing.md#x", "other.md#nope", "#nowhere"]
