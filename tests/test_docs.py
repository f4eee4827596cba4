"""The documentation a newcomer reads: a short README, and no broken relative link in it or in docs/.

Every markdown link and image (``[text](path)``, ``[text](path#anchor)``, ``[text](#anchor)``,
``![alt](path)``, reference definitions ``[id]: path``) in README.md and every ``docs/**/*.md`` must
point at an existing file; an anchor must name a heading of that file by GitHub's rule (lowercase,
punctuation dropped except ``-`` and ``_``, each space → ``-``, ``-1``, ``-2`` … for repeats). Anchors
with non-ASCII characters are checked for their file only (GitHub's slugs of those are hard to mirror).
External links (http, https, mailto) are not checked. Code blocks and inline code are not links.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 250

FENCE = re.compile(r"^ {0,3}(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # [text] (one level of nested brackets), then
                  r"\(\s*<?([^()\s<>]*(?:\([^()\s]*\)[^()\s<>]*)*)>?(?:\s+[\"'(][^)]*)?\)")  # (target "title")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+[^>]*(?:name|id)=[\"']([^\"']+)[\"']", re.I)
EXTERNAL = ("http://", "https://", "mailto:", "ftp://")


def pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code removed."""
    out, fenced = [], None
    for line in text.splitlines():
        m = FENCE.match(line)
        if m:
            if fenced is None:
                fenced = m.group(1)
            elif line.strip().startswith(fenced):
                fenced = None
            continue
        if fenced is None:
            out.append(INLINE_CODE.sub("", line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link or image: its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found, seen = set(), {}
    text = path.read_text(encoding="utf-8")
    for line in prose_lines(text):
        m = HEADING.match(line)
        if m:
            base = slug(m.group(2).replace("`", ""))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        found.update(HTML_ANCHOR.findall(line))
    return found


def links(path: Path) -> list[str]:
    out = []
    for line in prose_lines(path.read_text(encoding="utf-8")):
        out += LINK.findall(line)
        m = REFERENCE.match(line)
        if m:
            out.append(m.group(1))
    return out


def broken_links(path: Path) -> list[str]:
    """Each relative link of ``path`` that does not resolve, with the reason."""
    problems = []
    for target in links(path):
        if not target or target.lower().startswith(EXTERNAL):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{target}: no such file {dest}")
            continue
        if not anchor:
            continue
        anchor = unquote(anchor)
        if dest.is_dir() or dest.suffix.lower() != ".md":
            problems.append(f"{target}: an anchor into a file that is not markdown")
        elif anchor.isascii() and anchor.lower() not in anchors(dest):
            problems.append(f"{target}: {dest.name} has no heading with the anchor #{anchor}")
    return problems


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines (at most {MAX_README_LINES}): move text to docs/")


def test_readme_keeps_the_two_commands_ci_runs():
    text = README.read_text(encoding="utf-8")
    section = text.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    assert "```bash\nbash scripts/dev.sh app\n```" in section
    assert "```bash\nbash scripts/dev.sh test\n```" in section
    assert "bash scripts/dev.sh test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_the_readme_links_every_docs_page():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in links(README) if t.partition("#")[0]}
    missing = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").rglob("*.md")) if p.resolve() not in linked]
    assert missing == [], f"README.md does not link {missing}"


def test_the_checker_finds_broken_links(tmp_path):
    """The link check itself: a missing file, a missing image, a wrong anchor (here and in another page)
    are each reported; good links, external ones and code are not."""
    (tmp_path / "other.md").write_text("# Other page\n\n## Café & co — the `x` part\n\n## Repeat\n\n## Repeat\n",
                                       encoding="utf-8")
    (tmp_path / "pic.png").write_bytes(b"")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## A heading, with punctuation!\n\n"
        "[ok](other.md) [ok](other.md#other-page) [ok](other.md#repeat-1) [ok](#a-heading-with-punctuation)\n"
        "![ok](pic.png) [ok](https://example.com/nowhere) `[code](missing.md)` [ok](other.md#café--co--the-x-part)\n"
        "```\n[in a block](missing.md)\n```\n"
        "[bad](missing.md) ![bad](nope.png) [bad](other.md#no-such) [bad](#nowhere) [bad](other.md#repeat-2)\n",
        encoding="utf-8")
    problems = broken_links(page)
    assert [p.split(":", 1)[0] for p in problems] == [
        "missing.md", "nope.png", "other.md#no-such", "#nowhere", "other.md#repeat-2"]
    assert slug("Stage 2: the input prior (WGAN)") == "stage-2-the-input-prior-wgan"
    assert slug("fs_fu: selected and unselected features") == "fs_fu-selected-and-unselected-features"
    assert slug("DoRaR and the a1/a2 protocol") == "dorar-and-the-a1a2-protocol"
