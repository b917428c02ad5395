"""The book's labelled retrieval set: short passages and questions judged against them, as package data.

Retrieval is measured on questions whose relevant passages are known in advance (the relevance
judgements, or qrels). The book ships one such set, `harbour_guide`: 44 short passages of a visitor's
guide to the harbour town of the shipped story (`genai_guide.texts.read_text("harbour")`), and 30
questions, each labelled with the ids of the passages that answer it and with a kind:

- `"keyword"`: the question names something rare (a boat, a code, a number) among common words;
- `"paraphrase"`: the question says in other words, or other word forms, what the passage says;
- `"plain"`: the question uses the passage's own words.

The chapters on sparse and hybrid retrieval, vector search and reranking all evaluate on this set,
read from anywhere the package is installed.

The book's own glossary ships too (`load_glossary`): one `GlossaryEntry` a term, with its one-sentence
tooltip, its definition and the chapter section that teaches it, generated from the glossary's single
source so that the "ask the book" lab can index real text that no one wrote for a test.

Example:
    >>> from genai_guide.knowledge_base import load_labelled_set
    >>> kb = load_labelled_set()
    >>> len(kb.passages), len(kb.questions)
    (44, 30)
    >>> kb.questions[0].text, kb.questions[0].relevant
    ('Which shop in town sells the Tidewheel?', ('p04',))
    >>> kb.passage("p04").title
    'The bakery'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

__all__ = ["KINDS", "GlossaryEntry", "LabelledSet", "Passage", "Question", "labelled_set_names", "load_glossary",
           "load_labelled_set"]

KINDS: tuple[str, ...] = ("keyword", "paraphrase", "plain")
"""The kinds of question in a labelled set (see the module docstring)."""

_PACKAGE = "genai_guide.texts"
_SUFFIX = ".json"
_GLOSSARY = "glossary.json"


@dataclass(frozen=True)
class Passage:
    """One passage of the knowledge base.

    Attributes:
        id: a unique id such as `"p04"`.
        title: a short heading.
        text: the passage itself.
    """

    id: str
    title: str
    text: str

    @property
    def document(self) -> str:
        """The text to index: `"<title>. <text>"`."""
        return f"{self.title}. {self.text}"


@dataclass(frozen=True)
class Question:
    """One question and its relevance judgements.

    Attributes:
        id: a unique id such as `"q01"`.
        text: the question.
        relevant: the ids of the passages that answer it (at least one).
        kind: one of `KINDS`.
    """

    id: str
    text: str
    relevant: tuple[str, ...]
    kind: str


@dataclass(frozen=True)
class LabelledSet:
    """Passages and the questions judged against them.

    Attributes:
        name: the set's name.
        description: one sentence on what it holds.
        passages: the passages, in id order.
        questions: the questions, in id order.
    """

    name: str
    description: str
    passages: tuple[Passage, ...]
    questions: tuple[Question, ...]

    @property
    def passage_ids(self) -> list[str]:
        """The passage ids, in order: row `i` of any index built from `documents` is `passage_ids[i]`."""
        return [p.id for p in self.passages]

    @property
    def documents(self) -> list[str]:
        """The text to index for each passage (`Passage.document`), in order."""
        return [p.document for p in self.passages]

    def passage(self, passage_id: str) -> Passage:
        """The passage with id `passage_id`.

        Raises:
            ValueError: if no passage has that id.
        """
        for p in self.passages:
            if p.id == passage_id:
                return p
        raise ValueError(f"passage_id must be one of the set's passage ids, got {passage_id!r}")

    def qrels(self) -> dict[str, set[str]]:
        """The relevance judgements: question id -> set of relevant passage ids."""
        return {q.id: set(q.relevant) for q in self.questions}

    def relevance_matrix(self) -> list[list[int]]:
        """Binary judgements as rows of 0/1, one row a question, one column a passage (in order).

        This is the `y_true` of `sklearn.metrics.ndcg_score` and `genai_guide.retrieval_metrics.ndcg_at_k`.
        """
        ids = self.passage_ids
        return [[int(pid in q.relevant) for pid in ids] for q in self.questions]


def labelled_set_names() -> list[str]:
    """The names of the shipped labelled sets, sorted (`harbour_guide`).

    A labelled set is a JSON file of `genai_guide.texts` with `passages` and `questions`; other JSON
    files shipped there are not listed.
    """
    names = []
    for f in resources.files(_PACKAGE).iterdir():
        if f.name.endswith(_SUFFIX):
            raw = json.loads(f.read_text(encoding="utf-8"))
            if isinstance(raw, dict) and {"passages", "questions"} <= raw.keys():
                names.append(f.name.removesuffix(_SUFFIX))
    return sorted(names)


def load_labelled_set(name: str = "harbour_guide") -> LabelledSet:
    """Read a shipped labelled set and check it: unique ids, every judgement names a real passage.

    Args:
        name: a name from `labelled_set_names()`.

    Returns:
        The set, with its passages and questions in id order.

    Raises:
        TypeError: if `name` is not a str.
        ValueError: if no set of that name ships with the package.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in labelled_set_names():
        raise ValueError(f"name must be one of {labelled_set_names()}, got {name!r}")
    raw = json.loads(resources.files(_PACKAGE).joinpath(name + _SUFFIX).read_text(encoding="utf-8"))
    passages = tuple(Passage(p["id"], p["title"], p["text"]) for p in raw["passages"])
    questions = tuple(Question(q["id"], q["question"], tuple(q["relevant"]), q["kind"]) for q in raw["questions"])
    ids = [p.id for p in passages]
    # the shipped file is data a reader may edit: fail loudly on a broken judgement
    if len(set(ids)) != len(ids) or len({q.id for q in questions}) != len(questions):
        raise ValueError(f"labelled set {name!r} has duplicate ids")
    for q in questions:
        unknown = [pid for pid in q.relevant if pid not in ids]
        if not q.relevant or unknown or q.kind not in KINDS:
            raise ValueError(f"labelled set {name!r}: question {q.id} has relevant={q.relevant}, kind={q.kind!r}")
    return LabelledSet(raw["name"], raw["description"], passages, questions)


@dataclass(frozen=True)
class GlossaryEntry:
    """One term of the book's glossary.

    Attributes:
        slug: the entry's stable anchor, such as `"bm25"`: its place in the glossary is `glossary.md#<slug>`.
        term: the term as its heading shows it.
        tooltip: one plain sentence, shown on hover wherever the term appears on the site.
        definition: the full definition, in Markdown (math in `$...$`).
        taught_in: the chapter section that teaches it, as `page.md#anchor` under `docs/`, or None.
    """

    slug: str
    term: str
    tooltip: str
    definition: str
    taught_in: str | None

    @property
    def document(self) -> str:
        """The text to index: `"<term>. <definition>"` (the tooltip is left out)."""
        return f"{self.term}. {self.definition}"


def load_glossary() -> tuple[GlossaryEntry, ...]:
    """Read the book's glossary, shipped as package data, with its entries sorted by slug.

    The file is generated from the glossary's single source by the book's tooling, and a test fails
    when it is older than that source; read it from any folder where the package is installed.

    Returns:
        The entries, sorted by slug (unique).

    Raises:
        ValueError: if the shipped file has duplicate slugs or an entry without a tooltip or definition.
    """
    raw = json.loads(resources.files(_PACKAGE).joinpath(_GLOSSARY).read_text(encoding="utf-8"))
    entries = tuple(GlossaryEntry(e["slug"], e["term"], e["tooltip"], e["definition"], e.get("taught_in"))
                    for e in raw["entries"])
    slugs = [e.slug for e in entries]
    if len(set(slugs)) != len(slugs) or slugs != sorted(slugs):
        raise ValueError("the shipped glossary must have unique slugs, in sorted order")
    for e in entries:
        if not e.tooltip.strip() or not e.definition.strip():
            raise ValueError(f"the shipped glossary entry {e.slug!r} has an empty tooltip or definition")
    return entries
