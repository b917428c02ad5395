"""Generate the glossary and bibliography pages (Markdown) from the data files."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from markdown.extensions.toc import slugify

from bookkit import ROOT
from bookkit.data import RELATIONS, DataError, Paper, Term

DOCS = ROOT / "docs"
REL_LABELS = {"see_also": "See also", "contrast_with": "Contrast with", "part_of": "Part of",
              "example_of": "Example of"}
CITE = re.compile(r"reference/papers\.md#([a-z0-9-]+)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def page_title_and_headings(md_path: Path) -> tuple[str, dict[str, str]]:
    """The page's H1 and a map from heading anchor to heading text (default toc slugs)."""
    text = FENCE.sub("", md_path.read_text(encoding="utf-8"))
    title, headings = md_path.stem, {}
    for level, heading in re.findall(r"^(#{1,6})\s+(.+?)\s*$", text, re.M):
        heading = re.sub(r"\s*\{[^}]*\}\s*$", "", heading)
        if level == "#" and title == md_path.stem:
            title = heading
        headings[slugify(heading, "-")] = heading
    return title, headings


def taught_in_link(term: Term) -> str:
    """Markdown link to the section that teaches the term, from the glossary page."""
    path, _, anchor = str(term.taught_in).partition("#")
    title, headings = page_title_and_headings(DOCS / path)
    if anchor and anchor not in headings:
        raise DataError(f"term {term.term!r}: taught_in anchor #{anchor} is not a heading of {path}")
    label = f"{title} › {headings[anchor]}" if anchor and headings[anchor] != title else title
    return f"[{label}]({term.taught_in})"


def glossary_markdown(terms: dict[str, Term], papers: dict[str, Paper]) -> str:
    entries = sorted(terms.values(), key=lambda t: t.term.lower())
    letters = sorted({t.term[0].upper() for t in entries})
    out = [
        "---",
        "description: Every term the book uses, with a one-line definition, formulas, related terms, "
        "the chapter that teaches it and the pages that use it.",
        "---",
        "",
        "# Glossary",
        "",
        f"{len(entries)} terms. Hover a term anywhere in the book for its one-line definition; click it to come "
        "here. Each entry links the section that teaches it, related and contrasting terms, its papers, "
        "and every page that uses it. A machine-readable copy is at <a href=\"glossary.json\">glossary.json</a>.",
        "",
        '<nav class="gl-letters" aria-label="Jump to letter">'
        + " ".join(f'<a href="#letter-{c.lower()}">{c}</a>' for c in letters) + "</nav>",
        "",
    ]
    current = None
    for t in entries:
        letter = t.term[0].upper()
        if letter != current:
            out += [f"## {letter} {{#letter-{letter.lower()} }}", ""]
            current = letter
        heading = f"{t.term} ({t.abbr})" if t.abbr else t.term
        out += [f"### {heading} {{#{t.slug} }}", ""]
        if t.aliases:
            out += ["*Also called:* " + ", ".join(t.aliases), ""]
        out += [f"**In one line:** {t.tooltip}", "", t.definition, ""]
        facts = []
        for rel in RELATIONS:
            if targets := t.relations.get(rel):
                links = ", ".join(f"[{terms[s].term}](#{s})" for s in targets)
                facts.append(f"**{REL_LABELS[rel]}:** {links}")
        if t.taught_in:
            facts.append(f"**Taught in:** {taught_in_link(t)}")
        if t.papers:
            facts.append("**Papers:** " + ", ".join(
                f"[{papers[k].short}](reference/papers.md#{k})" for k in t.papers))
        out += [f'<div class="gl-facts" markdown>\n\n' + "  \n".join(facts) + "\n\n</div>", ""]
        out += [f'<div class="gl-backlinks" data-term="{t.slug}"></div>', ""]
    return "\n".join(out)


def paper_citations() -> dict[str, list[str]]:
    """Map paper key -> docs-relative paths of the pages that link to it."""
    cited: dict[str, set[str]] = defaultdict(set)
    for md in DOCS.rglob("*.md"):
        for key in CITE.findall(md.read_text(encoding="utf-8")):
            cited[key].add(md.relative_to(DOCS).as_posix())
    return {k: sorted(v) for k, v in cited.items()}


def papers_markdown(papers: dict[str, Paper]) -> str:
    cited = paper_citations()
    unknown = sorted(set(cited) - set(papers))
    if unknown:
        raise DataError(f"pages cite unknown papers: {', '.join(unknown)} (add them to data/papers.yml)")
    out = [
        "---",
        "description: The papers behind the book, with authors, venue, arXiv id, one-line contribution "
        "and the chapters that cite them.",
        "---",
        "",
        "# Papers",
        "",
        f"{len(papers)} papers, oldest first. Chapters cite them by linking here; each entry lists the "
        "chapters that do.",
        "",
    ]
    for p in sorted(papers.values(), key=lambda p: (p.year, p.key)):
        out += [f"### {p.title} {{#{p.key} }}", ""]
        out += [f"{', '.join(p.authors)}. *{p.venue}*, {p.year}. "
                f"arXiv: [{p.arxiv}](https://arxiv.org/abs/{p.arxiv})", ""]
        out += [p.contribution, ""]
        pages = cited.get(p.key, [])
        if pages:
            titles = [f"[{page_title_and_headings(DOCS / page)[0]}](../{page})" for page in pages]
            out += ["**Cited in:** " + ", ".join(titles), ""]
    return "\n".join(out)
