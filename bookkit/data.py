"""Load and validate the book's single-source data files (`data/glossary.yml`, `data/papers.yml`).

Every problem is reported with the entry it belongs to, and all problems are reported at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bookkit import ROOT

DATA = ROOT / "data"
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ARXIV = re.compile(r"^\d{4}\.\d{4,5}$")
RELATIONS = ("see_also", "contrast_with", "part_of", "example_of")


class DataError(ValueError):
    """A data file is malformed; the message names every faulty entry."""


@dataclass(frozen=True)
class Paper:
    key: str
    title: str
    authors: tuple[str, ...]
    year: int
    venue: str
    arxiv: str | None
    contribution: str
    url: str | None = None

    @property
    def link(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else str(self.url)

    @property
    def short(self) -> str:
        """Citation label, e.g. 'Vaswani et al. 2017'."""
        last = self.authors[0].split()[-1]
        return f"{last} et al. {self.year}" if len(self.authors) > 2 else (
            f"{last} and {self.authors[1].split()[-1]} {self.year}" if len(self.authors) == 2 else f"{last} {self.year}"
        )


@dataclass(frozen=True)
class Term:
    term: str
    slug: str
    tooltip: str
    definition: str
    abbr: str | None = None
    aliases: tuple[str, ...] = ()
    relations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    taught_in: str | None = None
    papers: tuple[str, ...] = ()

    @property
    def forms(self) -> tuple[str, ...]:
        """Every surface form that names this term on a page."""
        return (self.term, *self.aliases, *((self.abbr,) if self.abbr else ()))


def is_case_sensitive(form: str) -> bool:
    """Forms with capitals past the first letter (BPE, LoRA, ReAct, ToT) must match exactly, so that
    "react" or "tot" in running prose are not taken for them; sentence-case forms match any case."""
    return form != form[:1] + form[1:].lower()


def _read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f) or []
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise DataError(f"{path.name}: expected a list of mappings")
    return data


def load_papers(path: Path = DATA / "papers.yml") -> dict[str, Paper]:
    errors: list[str] = []
    papers: dict[str, Paper] = {}
    required = ("key", "title", "authors", "year", "venue", "contribution")
    for i, raw in enumerate(_read(path)):
        name = raw.get("key") or f"entry #{i + 1}"
        missing = [k for k in required if not raw.get(k)]
        if not raw.get("arxiv") and not raw.get("url"):
            missing.append("arxiv (or url, for a paper not on arXiv)")
        unknown = set(raw) - {*required, "arxiv", "url"}
        if missing:
            errors.append(f"paper {name!r}: missing {', '.join(missing)}")
            continue
        if unknown:
            errors.append(f"paper {name!r}: unknown fields {sorted(unknown)}")
        if not SLUG.match(str(raw["key"])):
            errors.append(f"paper {name!r}: key must be lowercase letters, digits and hyphens")
        if raw.get("arxiv") and not ARXIV.match(str(raw["arxiv"])):
            errors.append(f"paper {name!r}: malformed arXiv id {raw['arxiv']!r} (expected e.g. 1706.03762)")
        if not isinstance(raw["authors"], list):
            errors.append(f"paper {name!r}: authors must be a list")
        if name in papers:
            errors.append(f"paper {name!r}: duplicate key")
        papers[name] = Paper(
            key=name, title=str(raw["title"]), authors=tuple(raw["authors"]), year=int(raw["year"]),
            venue=str(raw["venue"]), arxiv=str(raw["arxiv"]) if raw.get("arxiv") else None,
            contribution=str(raw["contribution"]).strip(), url=raw.get("url"),
        )
    if errors:
        raise DataError(f"{path.name}:\n  " + "\n  ".join(errors))
    return papers


def load_glossary(path: Path = DATA / "glossary.yml", papers: dict[str, Paper] | None = None) -> dict[str, Term]:
    papers = load_papers() if papers is None else papers
    errors: list[str] = []
    terms: dict[str, Term] = {}
    forms: dict[str, str] = {}
    allowed = {"term", "slug", "abbr", "aliases", "tooltip", "definition", "taught_in", "papers", *RELATIONS}
    for i, raw in enumerate(_read(path)):
        name = raw.get("term") or f"entry #{i + 1}"
        if unknown := set(raw) - allowed:
            errors.append(f"term {name!r}: unknown fields {sorted(unknown)}")
        for key in ("term", "slug", "tooltip", "definition"):
            if not str(raw.get(key) or "").strip():
                errors.append(f"term {name!r}: empty {key}")
        slug = str(raw.get("slug") or "")
        if slug and not SLUG.match(slug):
            errors.append(f"term {name!r}: slug {slug!r} must be lowercase-hyphenated")
        if slug in terms:
            errors.append(f"term {name!r}: duplicate slug {slug!r}")
        tooltip = " ".join(str(raw.get("tooltip") or "").split())
        if len(tooltip) > 200:
            errors.append(f"term {name!r}: tooltip longer than 200 characters")
        taught_in = raw.get("taught_in")
        if taught_in and not (ROOT / "docs" / str(taught_in).split("#")[0]).is_file():
            errors.append(f"term {name!r}: taught_in page {taught_in!r} does not exist")
        entry = Term(
            term=str(raw.get("term", "")), slug=slug, tooltip=tooltip, definition=str(raw.get("definition", "")).strip(),
            abbr=raw.get("abbr") or None, aliases=tuple(raw.get("aliases") or ()),
            relations={r: tuple(raw.get(r) or ()) for r in RELATIONS}, taught_in=taught_in,
            papers=tuple(raw.get("papers") or ()),
        )
        for form in entry.forms:
            key = form if is_case_sensitive(form) else form.lower()
            if key in forms and forms[key] != slug:
                errors.append(f"term {name!r}: alias {form!r} already names {forms[key]!r}")
            forms[key] = slug
        for key in entry.papers:
            if key not in papers:
                errors.append(f"term {name!r}: unknown paper {key!r}")
        terms[slug] = entry
    for entry in terms.values():
        for rel, targets in entry.relations.items():
            for target in targets:
                if target not in terms:
                    errors.append(f"term {entry.term!r}: {rel} names unknown term {target!r}")
                elif target == entry.slug:
                    errors.append(f"term {entry.term!r}: {rel} names itself")
    if errors:
        raise DataError(f"{path.name}:\n  " + "\n  ".join(errors))
    return terms


def _load_records(path: Path, kind: str, required: tuple[str, ...], optional: tuple[str, ...],
                  papers: dict[str, Paper], allowed: dict[str, set[str]] | None = None) -> dict[str, dict]:
    """Validate a list of plain records (models, datasets, tools) keyed by `key`."""
    errors: list[str] = []
    records: dict[str, dict] = {}
    for i, raw in enumerate(_read(path)):
        name = raw.get("key") or raw.get("name") or f"entry #{i + 1}"
        missing = [k for k in required if raw.get(k) in (None, "", [])]
        if missing:
            errors.append(f"{kind} {name!r}: missing {', '.join(missing)}")
        if unknown := set(raw) - set(required) - set(optional):
            errors.append(f"{kind} {name!r}: unknown fields {sorted(unknown)}")
        if not SLUG.match(str(raw.get("key", ""))):
            errors.append(f"{kind} {name!r}: key must be lowercase-hyphenated")
        if raw.get("key") in records:
            errors.append(f"{kind} {name!r}: duplicate key")
        if raw.get("paper") and raw["paper"] not in papers:
            errors.append(f"{kind} {name!r}: unknown paper {raw['paper']!r}")
        for field_name, values in (allowed or {}).items():
            if raw.get(field_name) not in values:
                errors.append(f"{kind} {name!r}: {field_name} must be one of {sorted(values)}")
        records[str(raw.get("key"))] = raw
    if errors:
        raise DataError(f"{path.name}:\n  " + "\n  ".join(errors))
    return records


def load_models(path: Path = DATA / "models.yml", papers: dict[str, Paper] | None = None) -> dict[str, dict]:
    return _load_records(
        path, "model", ("key", "name", "family", "organization", "released", "parameters", "context_length",
                        "license", "architecture"),
        ("paper", "hf_config", "published_parameters", "published_parameters_source", "notes"),
        load_papers() if papers is None else papers)


def load_datasets(path: Path = DATA / "datasets.yml", papers: dict[str, Paper] | None = None) -> dict[str, dict]:
    return _load_records(
        path, "dataset", ("key", "name", "task", "classes", "splits", "license", "hub_id", "load", "schema",
                          "watch_for"),
        ("paper", "tasks", "notes", "configs", "vocabulary"), load_papers() if papers is None else papers)


TOOL_SECTIONS = {"runtimes", "libraries", "multi-agent frameworks", "vector databases", "companies",
                 "further reading"}


def load_tools(path: Path = DATA / "tools.yml", papers: dict[str, Paper] | None = None) -> dict[str, dict]:
    return _load_records(path, "tool", ("key", "name", "section", "url", "what", "pick_when"), ("license",),
                         load_papers() if papers is None else papers, allowed={"section": TOOL_SECTIONS})
