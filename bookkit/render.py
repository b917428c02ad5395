"""Generate the glossary and bibliography pages (Markdown) from the data files."""

from __future__ import annotations

import html
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
# Inline code and inline math pass through as Markdown; everything else in a one-line text from the
# data files is plain text, so `<s>` must reach the page as "<s>", not as a strike-through tag.
VERBATIM = re.compile(r"(`+)(?:.+?)\1|\$[^$\n]+\$")


def plain_text(text: str) -> str:
    """Escape HTML in a short data text (an alias, a tooltip, a heading) outside code and math spans."""
    out, last = [], 0
    for m in VERBATIM.finditer(text):
        out += [html.escape(text[last:m.start()], quote=False), m.group(0)]
        last = m.end()
    return "".join(out) + html.escape(text[last:], quote=False)


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
        heading = plain_text(f"{t.term} ({t.abbr})" if t.abbr else t.term)
        out += [f"### {heading} {{#{t.slug} }}", ""]
        if t.aliases:
            out += ["*Also called:* " + ", ".join(plain_text(a) for a in t.aliases), ""]
        out += [f"**In one line:** {plain_text(t.tooltip)}", "", t.definition, ""]
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
        out += [f"### {_text(p.title)} {{#{p.key} }}", ""]
        where = f"arXiv: [{p.arxiv}]({p.link})" if p.arxiv else f"[Read it]({p.link})"
        out += [f"{_text(', '.join(p.authors))}. *{_text(p.venue)}*, {p.year}. {where}", ""]
        out += [_text(p.contribution), ""]
        pages = cited.get(p.key, [])
        if pages:
            titles = [f"[{page_title_and_headings(DOCS / page)[0]}](../{page})" for page in pages]
            out += ["**Cited in:** " + ", ".join(titles), ""]
    return "\n".join(out)


def _text(value) -> str:
    """A prose field of a data file on one line, HTML escaped outside code and math (`<unk>` is text)."""
    return plain_text(" ".join(str(value).split()))


def _cell(value) -> str:
    return _text(value).replace("|", "\\|")


def _paper_link(key: str | None, papers: dict[str, Paper], base: str) -> str:
    return f"[{papers[key].short}]({base}papers.md#{key})" if key else ""


def models_markdown(models: dict[str, dict], papers: dict[str, Paper]) -> str:
    rows = sorted(models.values(), key=lambda m: (int(str(m["released"])[:4]), m["name"]))
    out = ["| model | family | organization | year | parameters | context | license |",
           "|---|---|---|---|---|---|---|"]
    out += [f"| [{_cell(m['name'])}](#{m['key']}) | {_cell(m['family'])} | {_cell(m['organization'])} | "
            f"{_cell(m['released'])} | {_cell(m['parameters'])} | {_cell(m['context_length'])} | {_cell(m['license'])} |"
            for m in rows]
    out.append("")
    for m in rows:
        out += [f"### {_text(m['name'])} {{#{m['key']} }}", ""]
        facts = [f"**Family:** {_text(m['family'])}", f"**By:** {_text(m['organization'])}, {m['released']}",
                 f"**Parameters:** {_text(m['parameters'])}", f"**Context:** {_text(m['context_length'])}",
                 f"**License:** {_text(m['license'])}"]
        if m.get("paper"):
            facts.append(f"**Paper:** {_paper_link(m['paper'], papers, '')}")
        out += [" · ".join(facts), "", _text(m["architecture"]), ""]
        if m.get("notes"):
            out += [_text(m["notes"]), ""]
    return "\n".join(out)


def _splits(splits) -> str:
    """{train: 25000, test: 25000} -> 'train 25,000 · test 25,000'; nested dicts get their names."""
    if not isinstance(splits, dict):
        return str(splits)
    parts = []
    for name, value in splits.items():
        if isinstance(value, dict):
            parts.append(f"{name}: " + " / ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                                                   for k, v in value.items()))
        else:
            parts.append(f"{name} {value:,}" if isinstance(value, int) else f"{name} {value}")
    return " · ".join(parts)


def _schema(schema) -> str:
    return ", ".join(f"`{k}`: {v}" for k, v in schema.items()) if isinstance(schema, dict) else str(schema)


def datasets_markdown(datasets: dict[str, dict], papers: dict[str, Paper]) -> str:
    rows = list(datasets.values())
    out = ["| dataset | task | classes | license |", "|---|---|---|---|"]
    for d in rows:
        classes = (len(d["classes"]) if isinstance(d["classes"], list) else
                   " / ".join(f"{len(v)} {k}" for k, v in d["classes"].items()) if isinstance(d["classes"], dict)
                   else d["classes"])
        out.append(f"| [{_cell(d['name'])}](#{d['key']}) | {_cell(d['task'])} | {_cell(classes)} | "
                   f"{_cell(' '.join(str(d['license']).split()))} |")
    out.append("")
    for d in rows:
        out += [f"### {_text(d['name'])} {{#{d['key']} }}", "", f"**Task:** {_text(d['task'])}", ""]
        if isinstance(d["classes"], list):
            out += [f"**Classes ({len(d['classes'])}):** " + ", ".join(f"`{c}`" for c in d["classes"]), ""]
        elif isinstance(d["classes"], dict):
            for group, names in d["classes"].items():
                out += [f"**{str(group).capitalize()} classes ({len(names)}):** " + ", ".join(f"`{c}`" for c in names), ""]
        else:
            out += [f"**Classes:** {_text(d['classes'])}", ""]
        out += [f"**Splits:** {_text(_splits(d['splits']))}", ""]
        if d.get("tasks"):
            out += ["| task | what | metric | splits | schema |", "|---|---|---|---|---|"]
            out += [f"| {_cell(t.get('name'))} | {_cell(t.get('task_type', ''))} | {_cell(t.get('metric', ''))} | "
                    f"{_cell(_splits(t.get('splits', '')))} | {_cell(_schema(t.get('schema', '')))} |" for t in d["tasks"]]
            out.append("")
        if d.get("vocabulary"):
            out += [f"**Vocabulary:** {_text(_splits(d['vocabulary']))}", ""]
        out += [f"**Schema:** {_schema(d['schema'])}", ""]
        out += [f"**License:** {_text(d['license'])}", "",
                f"**Hub id:** `{d['hub_id']}` · **Load:** `{' '.join(str(d['load']).split())}`"
                + (f" · **Paper:** {_paper_link(d['paper'], papers, '')}" if d.get("paper") else ""), ""]
        if d.get("notes"):
            out += [_text(d["notes"]), ""]
        out += [f"!!! warning \"What to watch for\"\n\n    {_text(d['watch_for'])}", ""]
    return "\n".join(out)


def tools_markdown(tools: dict[str, dict]) -> str:
    order = ["runtimes", "libraries", "multi-agent frameworks", "vector databases", "companies", "further reading"]
    out = []
    for section in order:
        items = [t for t in tools.values() if t["section"] == section]
        if not items:
            continue
        out += [f"## {section.capitalize()}", "", "| name | what it is for | pick it when |" + (
            " license |" if section not in ("companies", "further reading") else ""),
            "|---|---|---|" + ("---|" if section not in ("companies", "further reading") else "")]
        for t in items:
            row = f"| [{_cell(t['name'])}]({t['url']}){{#{t['key']} }} | {_cell(t['what'])} | {_cell(t['pick_when'])} |"
            if section not in ("companies", "further reading"):
                row += f" {_cell(t.get('license', ''))} |"
            out.append(row)
        out.append("")
    return "\n".join(out)
