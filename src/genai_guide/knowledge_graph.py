"""Knowledge graphs for retrieval: triples from text, a labelled graph, path queries, k-hop context.

A knowledge graph stores facts as triples (subject, predicate, object): entities are nodes and each
triple is a directed edge labelled with its relation (Hogan et al. 2020, ACM Computing Surveys 2021,
arXiv 2003.02320). This module builds the pieces that the Knowledge graphs chapter explains:

- `Triple` and `extract_triples`: a small pattern-based extractor, one regular expression a relation,
  that turns sentences such as "Nell Quill works for Malin Ness." into triples. Real systems extract
  with a language model or a trained information-extraction model (`extraction_prompt` shows the
  shape of such a prompt); the rules here make the step visible and testable;
- `build_graph`: the triples as a `networkx.MultiDiGraph`, one edge a triple, keyed by its relation;
- `follow`: a path query, the entities reached from a start entity by following a sequence of
  relations (a relation written `"^r"` is followed backwards), equal to SPARQL's sequence property
  path `<start> r1/r2/... ?x` over the same triples in `rdflib` (`to_rdf`, `sparql_path_query`);
- `labelled_paths`: the simple paths along a sequence of relations, equal to
  `networkx.all_simple_paths` filtered by the edges' labels;
- `link_entities`, `neighbourhood` and `verbalise`: the retrieval side of graph-augmented generation
  (GraphRAG, Edge et al. 2024, arXiv 2404.16130): find the entities a question names, take the
  triples within k hops of them, and write those triples as sentences for the prompt.

Example:
    >>> triples = extract_triples("Ada Quill is the baker. Nell Quill is the sister of Ada Quill. "
    ...                           "Nell Quill works for Malin Ness.")
    >>> triples[1]
    Triple(subject='Ada Quill', predicate='has_sister', object='Nell Quill')
    >>> graph = build_graph(triples)
    >>> follow(graph, "baker", ["^works_as", "has_sister", "works_for"])  # the baker's sister's employer
    ['Malin Ness']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

from genai_guide._checks import check_int

if TYPE_CHECKING:  # networkx and rdflib are imported where they are used
    import networkx as nx
    import rdflib

__all__ = [
    "HARBOUR_PEOPLE",
    "RULES",
    "Rule",
    "Triple",
    "build_graph",
    "extract_triples",
    "extraction_prompt",
    "follow",
    "labelled_paths",
    "link_entities",
    "neighbourhood",
    "relations",
    "sparql_path_query",
    "split_sentences",
    "to_rdf",
    "verbalise",
]

DEFAULT_BASE = "http://example.org/harbour/"
"""The namespace that `to_rdf` and `sparql_path_query` mint IRIs in."""


class Triple(NamedTuple):
    """One fact: `subject` --`predicate`--> `object`, each a non-empty string."""

    subject: str
    predicate: str
    object: str


class Rule(NamedTuple):
    """An extraction rule: a sentence matching `pattern` gives one triple.

    Attributes:
        pattern: a regular expression with the named groups `s` and `o` (the subject and object), and
            optionally `rel`, matched against a whole sentence (`re.fullmatch`).
        predicate: the relation; `"{rel}"` in it is replaced by the `rel` group (for example
            `"has_{rel}"` with `rel` = `sister`).
    """

    pattern: str
    predicate: str


_NAME = r"(?!The )[A-Z][a-z]+(?: [A-Z][a-z]+)*"  # a proper name: capitalised words ("Ada Quill", "Quay Street")
_KIN = r"sister|brother|wife|husband|daughter|son"

RULES: tuple[Rule, ...] = (
    Rule(rf"(?P<o>{_NAME}) is the (?P<rel>{_KIN}) of (?P<s>{_NAME})\.", "has_{rel}"),
    Rule(rf"(?P<s>{_NAME}) is married to (?P<o>{_NAME})\.", "married_to"),
    Rule(rf"(?P<s>{_NAME}) is the (?P<o>[a-z]+(?: [a-z]+)*)\.", "works_as"),
    Rule(rf"(?P<s>{_NAME}) works for (?P<o>{_NAME})\.", "works_for"),
    Rule(rf"(?P<s>{_NAME}) skippers the (?P<o>{_NAME})\.", "skipper_of"),
    Rule(rf"(?P<s>{_NAME}) (?:runs|owns) the (?P<o>[a-z]+(?: [a-z]+)*)\.", "runs"),
    Rule(rf"The (?P<s>[a-z]+(?: [a-z]+)*) is on (?P<o>{_NAME})\.", "located_on"),
)
"""The book's extraction rules, tried in order; the first that matches a sentence wins.

"Nell Quill is the sister of Ada Quill." gives (Ada Quill, has_sister, Nell Quill); "Ada Quill is the
baker." gives (Ada Quill, works_as, baker); "The bakery is on Quay Street." gives (bakery, located_on,
Quay Street). Anything else (a pronoun, a paraphrase, a second clause) gives nothing.
"""

HARBOUR_PEOPLE: tuple[str, ...] = (
    ("Ada Quill is the baker. Ada Quill runs the bakery. The bakery is on Quay Street. "
     "Nell Quill is the sister of Ada Quill. The bakery sells the Tidewheel."),
    ("Malin Ness owns the boatyard. The boatyard is on Slipway Lane. Nell Quill works for Malin Ness. "
     "She caulks the hulls in winter."),
    ("Owen Pryce is the keeper. Owen Pryce runs the lighthouse. The lighthouse is on North Headland. "
     "Tom Pryce is the brother of Owen Pryce."),
    ("Tom Pryce skippers the Swallow. Tom Pryce works for Ruth Calder. The Swallow is the fastest boat "
     "in the harbour."),
    ("Iris Vane is the teacher. Iris Vane runs the school. The school is on School Hill. "
     "Iris Vane is married to Tom Pryce."),
    ("Ruth Calder owns the fish auction. The fish auction is on Market Quay. "
     "Ruth Calder is the sister of Mara Lind."),
    ("Mara Lind is the harbour master. Mara Lind runs the customs house. The customs house is on "
     "Market Quay. Her launch is the Heron."),
    ("Sam Ness is the brother of Malin Ness. Sam Ness skippers the Morning Star. "
     "The Morning Star is the oldest boat in the harbour."),
)
"""Eight short passages about the people of the book's harbour town, written for this chapter.

Each is a chunk of a knowledge base; the facts a multi-hop question needs are spread over two of
them (the baker and her sister in the first, the sister's employer in the second). A few sentences
fit no rule in `RULES` on purpose ("She caulks the hulls in winter.").
"""


def _check_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def split_sentences(text: str) -> list[str]:
    """Cut `text` after each `.`, `!` or `?` that is followed by whitespace or the end.

    Args:
        text: plain prose.

    Returns:
        The sentences, stripped, without empty ones.

    Raises:
        TypeError: if `text` is not a str.
    """
    _check_str("text", text)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def extract_triples(text: str, rules: Sequence[Rule] = RULES) -> list[Triple]:
    """Triples from the sentences of `text`, one per sentence that a rule matches whole.

    Pattern-based extraction (Hearst-style lexico-syntactic patterns) is precise and brittle: it
    misses every phrasing it was not written for, pronouns included. Production pipelines ask a
    language model for the triples (see `extraction_prompt`) or run a trained relation-extraction
    model; Pan et al. (2023, IEEE TKDE 2024, arXiv 2306.08302) survey LLMs used for knowledge-graph
    construction.

    Args:
        text: prose; it is cut with `split_sentences`.
        rules: the rules to try, in order (the first match of a sentence wins).

    Returns:
        The triples in the order of their sentences (duplicates kept).

    Raises:
        TypeError: if `text` is not a str.
        ValueError: if a rule's pattern lacks the groups `s` and `o`.
    """
    compiled = []
    for i, rule in enumerate(rules):
        regex = re.compile(rule.pattern)
        if not {"s", "o"} <= set(regex.groupindex):
            raise ValueError(f"rules[{i}].pattern must have the named groups 's' and 'o', got {rule.pattern!r}")
        compiled.append((regex, rule.predicate))
    triples = []
    for sentence in split_sentences(text):
        for regex, predicate in compiled:
            m = regex.fullmatch(sentence)
            if m:
                rel = m.groupdict().get("rel") or ""
                triples.append(Triple(m["s"], predicate.format(rel=rel), m["o"]))
                break
    return triples


def extraction_prompt(text: str, relation_names: Sequence[str]) -> str:
    """The prompt an LLM-based extractor sends for one chunk: instructions, the schema, the text.

    Asking for one JSON object a line, with relations restricted to a fixed list, makes the answer
    parseable and the graph's schema stable; the reply is checked like any structured output.

    Args:
        text: the chunk to extract from.
        relation_names: the relations the model may use.

    Returns:
        The prompt text.

    Raises:
        TypeError: if `text` is not a str.
        ValueError: if `relation_names` is empty.
    """
    _check_str("text", text)
    if not relation_names:
        raise ValueError("relation_names must name at least one relation")
    return (
        "Extract the facts stated in the text as triples.\n"
        f"Use only these relations: {', '.join(relation_names)}.\n"
        "Name each entity as the text names it; resolve pronouns to the entity they refer to.\n"
        'Answer with one JSON object per line: {"subject": ..., "predicate": ..., "object": ...}\n'
        "and nothing else. If the text states no such fact, answer with nothing.\n\n"
        f"Text: {text}\n"
    )


def _check_triples(triples: Iterable[Triple]) -> list[Triple]:
    checked = []
    for i, t in enumerate(triples):
        if not (isinstance(t, tuple) and len(t) == 3 and all(isinstance(x, str) and x for x in t)):
            raise ValueError(f"triples[{i}] must be (subject, predicate, object), non-empty strings, got {t!r}")
        checked.append(Triple(*t))
    if not checked:
        raise ValueError("triples must hold at least one triple")
    return checked


def build_graph(triples: Iterable[Triple]) -> nx.MultiDiGraph:
    """A directed multigraph with one edge per distinct triple, keyed by its predicate.

    Entities are nodes; the triple (s, p, o) is the edge `s -> o` with key `p` and the attribute
    `relation=p`. Two entities can be joined by several relations (parallel edges, hence a
    multigraph); the same triple given twice is one edge.

    Args:
        triples: (subject, predicate, object) tuples of non-empty strings.

    Returns:
        The graph.

    Raises:
        ValueError: if `triples` is empty or holds something other than three non-empty strings.
    """
    import networkx as nx

    graph = nx.MultiDiGraph()
    for s, p, o in _check_triples(triples):
        graph.add_edge(s, o, key=p, relation=p)
    return graph


def _check_graph(graph: object) -> nx.MultiDiGraph:
    import networkx as nx

    if not isinstance(graph, nx.MultiDiGraph):
        raise TypeError(f"graph must be a networkx.MultiDiGraph, got {type(graph).__name__}")
    if graph.number_of_nodes() == 0:
        raise ValueError("graph must not be empty")
    return graph


def relations(graph: nx.MultiDiGraph) -> list[str]:
    """The relations (edge labels) of `graph`, sorted.

    Raises:
        TypeError: if `graph` is not a `networkx.MultiDiGraph`.
        ValueError: if `graph` is empty.
    """
    _check_graph(graph)
    return sorted({k for _, _, k in graph.edges(keys=True)})


def _check_entity(graph: nx.MultiDiGraph, name: str, value: object) -> str:
    _check_str(name, value)
    if value not in graph:
        raise ValueError(f"{name} must be an entity of the graph, got {value!r}")
    return value  # type: ignore[return-value]


def _check_path(graph: nx.MultiDiGraph, path: Sequence[str]) -> list[tuple[str, bool]]:
    """Each relation of `path` as (name, backwards), checked against the graph's relations."""
    if isinstance(path, str) or not isinstance(path, Sequence):
        raise TypeError(f"path must be a sequence of relation names, got {type(path).__name__}")
    if not path:
        raise ValueError("path must name at least one relation")
    known = set(relations(graph))
    steps = []
    for i, step in enumerate(path):
        _check_str(f"path[{i}]", step)
        backwards = step.startswith("^")
        rel = step[1:] if backwards else step
        if rel not in known:
            raise ValueError(f"path[{i}] must be a relation of the graph {sorted(known)} (or ^relation), got {step!r}")
        steps.append((rel, backwards))
    return steps


def _step(graph: nx.MultiDiGraph, node: str, rel: str, backwards: bool) -> list[str]:
    """The neighbours of `node` along edges labelled `rel` (incoming ones when `backwards`)."""
    if backwards:
        return [u for u, _, k in graph.in_edges(node, keys=True) if k == rel]
    return [v for _, v, k in graph.out_edges(node, keys=True) if k == rel]


def follow(graph: nx.MultiDiGraph, start: str, path: Sequence[str]) -> list[str]:
    """The entities reached from `start` by following the relations of `path`, in order.

    A multi-hop question is a path query: "who employs the baker's sister?" starts at the entity
    `baker`, goes back along `works_as` to the person, forward along `has_sister`, then forward along
    `works_for`. The answer is the set of end points of all such walks,

    $$\\{x : \\text{start} \\xrightarrow{r_1} v_1 \\xrightarrow{r_2} \\cdots \\xrightarrow{r_n} x\\},$$

    where a step `"^r"` follows an `r` edge backwards. Walks may revisit entities, as in SPARQL 1.1
    property paths: the result equals `SELECT DISTINCT ?x WHERE { <start> r1/r2/.../rn ?x }`
    (see `sparql_path_query`).

    Args:
        graph: a graph from `build_graph`.
        start: the entity to start from.
        path: relation names, each optionally prefixed with `^` to follow it backwards.

    Returns:
        The entities reached, sorted (`[]` when no walk completes).

    Raises:
        TypeError: if `graph` is not a `MultiDiGraph`, `start` is not a str, or `path` is not a
            sequence of str.
        ValueError: if the graph is empty, `start` is not one of its entities, `path` is empty or
            names a relation the graph does not have.
    """
    _check_graph(graph)
    _check_entity(graph, "start", start)
    frontier = {start}
    for rel, backwards in _check_path(graph, path):
        frontier = {n for node in frontier for n in _step(graph, node, rel, backwards)}
    return sorted(frontier)


def labelled_paths(graph: nx.MultiDiGraph, start: str, path: Sequence[str]) -> list[tuple[str, ...]]:
    """The simple paths from `start` whose edges carry the relations of `path`, in order.

    Unlike `follow`, a path never visits an entity twice, so this equals `networkx.all_simple_paths`
    from `start` (with `cutoff=len(path)`) kept when its `i`-th edge can be an `r_i` edge. The paths
    show the evidence for an answer: which entities it went through.

    Args:
        graph: a graph from `build_graph`.
        start: the entity to start from.
        path: relation names, each optionally prefixed with `^` to follow it backwards.

    Returns:
        The paths as tuples of entities (`len(path) + 1` each, starting with `start`), sorted.

    Raises:
        TypeError: as `follow`.
        ValueError: as `follow`.
    """
    _check_graph(graph)
    _check_entity(graph, "start", start)
    steps = _check_path(graph, path)
    paths = [(start,)]
    for rel, backwards in steps:
        paths = [(*p, n) for p in paths for n in set(_step(graph, p[-1], rel, backwards)) if n not in p]
    return sorted(paths)


def link_entities(text: str, graph: nx.MultiDiGraph) -> list[str]:
    """The entities of `graph` that `text` names, matched as whole words, ignoring case.

    This is entity linking at its simplest, exact names only: a longer name wins over a shorter one
    inside it ("fish auction" over "fish"), and each entity is reported once. Real linkers also match
    aliases, misspellings and descriptions ("the woman who bakes"), often with embeddings or an LLM.

    Args:
        text: a question or a passage.
        graph: a graph from `build_graph`.

    Returns:
        The entities in the order they first occur in `text`.

    Raises:
        TypeError: if `text` is not a str or `graph` not a `MultiDiGraph`.
        ValueError: if the graph is empty.
    """
    _check_str("text", text)
    _check_graph(graph)
    lowered = text.lower()
    taken = [False] * len(text)
    found: list[tuple[int, str]] = []
    for entity in sorted(graph.nodes, key=lambda e: (-len(e), e)):  # longest names first
        for m in re.finditer(rf"(?<!\w){re.escape(entity.lower())}(?!\w)", lowered):
            if not any(taken[m.start():m.end()]):
                taken[m.start():m.end()] = [True] * (m.end() - m.start())
                found.append((m.start(), entity))
    seen: dict[str, int] = {}
    for pos, entity in sorted(found):
        seen.setdefault(entity, pos)
    return list(seen)


def neighbourhood(graph: nx.MultiDiGraph, entities: Sequence[str], hops: int) -> list[Triple]:
    """The triples among the entities within `hops` steps of `entities`, edges in either direction.

    The k-hop neighbourhood is the subgraph induced by every entity at undirected distance at most
    `hops` from one of `entities` (the union of `networkx.ego_graph(graph, e, radius=hops,
    undirected=True)`); its triples are what graph-augmented retrieval puts into the prompt. A path
    of n relations from a seed is inside the neighbourhood when `hops >= n`.

    Args:
        graph: a graph from `build_graph`.
        entities: the seed entities (for example from `link_entities`); at least one.
        hops: the radius, at least 0 (0 keeps only the triples among the seeds).

    Returns:
        The triples, sorted.

    Raises:
        TypeError: if `graph` is not a `MultiDiGraph`, an entity is not a str or `hops` not an int.
        ValueError: if the graph is empty, `entities` is empty or names an unknown entity, or
            `hops < 0`.
    """
    _check_graph(graph)
    if isinstance(entities, str) or not isinstance(entities, Sequence):
        raise TypeError(f"entities must be a sequence of entity names, got {type(entities).__name__}")
    if not entities:
        raise ValueError("entities must name at least one entity")
    for i, e in enumerate(entities):
        _check_entity(graph, f"entities[{i}]", e)
    check_int("hops", hops, 0)
    reached = set(entities)
    frontier = set(entities)
    for _ in range(hops):  # breadth-first, ignoring edge direction
        frontier = {n for node in frontier for n in (*graph.successors(node), *graph.predecessors(node))} - reached
        reached |= frontier
    return sorted(Triple(u, k, v) for u, v, k in graph.edges(keys=True) if u in reached and v in reached)


def verbalise(triples: Iterable[Triple]) -> str:
    """The triples as sentences, one a line: (Ada Quill, has_sister, Nell Quill) -> "Ada Quill has sister Nell Quill."

    Args:
        triples: (subject, predicate, object) tuples of non-empty strings.

    Returns:
        One line per triple, in the given order; underscores in a predicate become spaces.

    Raises:
        ValueError: if `triples` is empty or malformed.
    """
    return "\n".join(f"{s} {p.replace('_', ' ')} {o}." for s, p, o in _check_triples(triples))


def _iri(base: str, name: str) -> str:
    return base + quote(name.replace(" ", "_"), safe="")


def to_rdf(triples: Iterable[Triple], base: str = DEFAULT_BASE) -> rdflib.Graph:
    """The triples as an RDF graph: every entity and relation an IRI in the namespace `base`.

    RDF, the W3C's data model for knowledge graphs, names everything with IRIs; spaces in names become
    underscores and other characters are percent-encoded ("Ada Quill" -> `<base>Ada_Quill`).

    Args:
        triples: (subject, predicate, object) tuples of non-empty strings.
        base: the namespace IRI, ending in `/` or `#`.

    Returns:
        An `rdflib.Graph` with one RDF triple per distinct triple, the prefix `ex:` bound to `base`.

    Raises:
        ValueError: if `triples` is empty or malformed, `base` does not end in `/` or `#`, or two
            names map to the same IRI ("Ada Quill" and "Ada_Quill").
    """
    import rdflib

    if not isinstance(base, str) or not base.endswith(("/", "#")):
        raise ValueError(f"base must be an IRI ending in '/' or '#', got {base!r}")
    rdf = rdflib.Graph()
    rdf.bind("ex", rdflib.Namespace(base))
    names: dict[str, str] = {}  # IRI -> the name it was minted from
    for triple in _check_triples(triples):
        iris = [_iri(base, name) for name in triple]
        for iri, name in zip(iris, triple, strict=True):
            if names.setdefault(iri, name) != name:
                raise ValueError(f"triples name {names[iri]!r} and {name!r}, which map to the same IRI {iri}")
        rdf.add(tuple(rdflib.URIRef(iri) for iri in iris))
    return rdf


def sparql_path_query(start: str, path: Sequence[str], base: str = DEFAULT_BASE) -> str:
    """The SPARQL query that `follow(graph, start, path)` answers, as a property path.

    The relations join with `/` (sequence path) and `"^r"` stays `^r` (inverse path), so that
    `follow(g, "baker", ["^works_as", "has_sister", "works_for"])` becomes
    `SELECT DISTINCT ?x WHERE { <base>baker ^ex:works_as/ex:has_sister/ex:works_for ?x }`.

    Args:
        start: the start entity.
        path: relation names, each optionally prefixed with `^`.
        base: the namespace `to_rdf` used.

    Returns:
        The query text.

    Raises:
        TypeError: if `start` or a relation is not a str.
        ValueError: if `path` is empty or a relation is empty.
    """
    _check_str("start", start)
    if isinstance(path, str) or not path:
        raise ValueError("path must name at least one relation")
    steps = []
    for i, step in enumerate(path):
        _check_str(f"path[{i}]", step)
        rel = step.removeprefix("^")
        if not rel:
            raise ValueError(f"path[{i}] must name a relation, got {step!r}")
        steps.append(("^" if step.startswith("^") else "") + f"<{_iri(base, rel)}>")
    return f"SELECT DISTINCT ?x WHERE {{ <{_iri(base, start)}> {'/'.join(steps)} ?x }}"
