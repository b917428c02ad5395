"""genai_guide.knowledge_graph against networkx and rdflib, on seeded random graphs.

`follow` must return exactly the answers of rdflib's SPARQL engine for the same triples and the
property path `sparql_path_query` writes (sequence and inverse steps); `labelled_paths` exactly
`networkx.all_simple_paths` filtered by edge labels; `neighbourhood` exactly the edges of the union of
`networkx.ego_graph(..., undirected=True)`. Extraction, linking and verbalising are checked on the
book's passages, and bad input on every function.
"""

from __future__ import annotations

import random
from urllib.parse import quote

import networkx as nx
import pytest
import rdflib

from genai_guide.knowledge_graph import (
    HARBOUR_PEOPLE,
    RULES,
    Rule,
    Triple,
    build_graph,
    extract_triples,
    extraction_prompt,
    follow,
    labelled_paths,
    link_entities,
    neighbourhood,
    relations,
    sparql_path_query,
    to_rdf,
    verbalise,
)

ENTITY_NAMES = ["Ada Quill", "Nell", "baker", "Quay Street", "x/y#z", "Café Ø", "a", "b", "c", "d", "e", "f"]
BASE = "http://example.org/harbour/"
RELATION_NAMES = ["r1", "r2", "works_for", "has sister"]


def random_triples(rng: random.Random) -> list[Triple]:
    entities = rng.sample(ENTITY_NAMES, rng.randint(2, len(ENTITY_NAMES)))
    rels = RELATION_NAMES[: rng.randint(1, len(RELATION_NAMES))]
    return [Triple(rng.choice(entities), rng.choice(rels), rng.choice(entities)) for _ in range(rng.randint(1, 30))]


def random_path(rng: random.Random, graph: nx.MultiDiGraph, inverse: bool) -> list[str]:
    rels = relations(graph)
    return [("^" if inverse and rng.random() < 0.4 else "") + rng.choice(rels) for _ in range(rng.randint(1, 4))]


def harbour_graph() -> nx.MultiDiGraph:
    return build_graph([t for passage in HARBOUR_PEOPLE for t in extract_triples(passage)])


def test_follow_equals_sparql_property_paths_in_rdflib():
    rng = random.Random(0)
    for _ in range(150):
        triples = random_triples(rng)
        graph, rdf = build_graph(triples), to_rdf(triples)
        start = rng.choice(sorted(graph.nodes))
        path = random_path(rng, graph, inverse=True)
        answers = sorted(str(row.x) for row in rdf.query(sparql_path_query(start, path)))
        ours = sorted(BASE + quote(name.replace(" ", "_"), safe="") for name in follow(graph, start, path))
        assert ours == answers, (triples, start, path)


def test_labelled_paths_equal_networkx_all_simple_paths_filtered_by_labels():
    rng = random.Random(1)
    for _ in range(300):
        graph = build_graph(random_triples(rng))
        start = rng.choice(sorted(graph.nodes))
        path = random_path(rng, graph, inverse=False)
        targets = set(graph.nodes) - {start}
        reference = set()
        for p in nx.all_simple_paths(graph, start, targets, cutoff=len(path)):
            if len(p) == len(path) + 1 and all(graph.has_edge(u, v, key=rel) for u, v, rel in zip(p, p[1:], path)):
                reference.add(tuple(p))
        ours = labelled_paths(graph, start, path)
        assert ours == sorted(reference), (start, path)
        # every simple path is a walk, so its end is among follow's answers, at least that far away
        assert {p[-1] for p in ours} <= set(follow(graph, start, path))
        for p in ours:
            assert nx.shortest_path_length(graph, start, p[-1]) <= len(path)


def test_labelled_paths_backwards_are_the_reversed_graph_forwards():
    rng = random.Random(2)
    for _ in range(100):
        graph = build_graph(random_triples(rng))
        start = rng.choice(sorted(graph.nodes))
        path = random_path(rng, graph, inverse=False)
        assert labelled_paths(graph, start, ["^" + r for r in path]) == labelled_paths(graph.reverse(), start, path)
        assert follow(graph, start, ["^" + r for r in path]) == follow(graph.reverse(), start, path)


def test_neighbourhood_equals_networkx_ego_graphs():
    rng = random.Random(3)
    for _ in range(300):
        graph = build_graph(random_triples(rng))
        seeds = rng.sample(sorted(graph.nodes), rng.randint(1, min(3, graph.number_of_nodes())))
        hops = rng.randint(0, 4)
        nodes = set().union(*(nx.ego_graph(graph, s, radius=hops, undirected=True).nodes for s in seeds))
        reference = sorted(Triple(u, k, v) for u, v, k in graph.subgraph(nodes).edges(keys=True))
        assert neighbourhood(graph, seeds, hops) == reference, (seeds, hops)


def test_a_path_of_n_relations_lies_in_the_n_hop_neighbourhood():
    graph = harbour_graph()
    path = ["^works_as", "has_sister", "works_for"]
    (p,) = labelled_paths(graph, "baker", path)
    assert p == ("baker", "Ada Quill", "Nell Quill", "Malin Ness")
    near = neighbourhood(graph, ["baker"], 3)
    assert Triple("Nell Quill", "works_for", "Malin Ness") in near
    assert Triple("Nell Quill", "works_for", "Malin Ness") not in neighbourhood(graph, ["baker"], 2)


def test_extraction_on_the_books_passages():
    triples = extract_triples(HARBOUR_PEOPLE[0])
    assert triples == [
        Triple("Ada Quill", "works_as", "baker"),
        Triple("Ada Quill", "runs", "bakery"),
        Triple("bakery", "located_on", "Quay Street"),
        Triple("Ada Quill", "has_sister", "Nell Quill"),
    ]  # "The bakery sells the Tidewheel." fits no rule
    assert extract_triples("She caulks the hulls in winter.") == []
    assert extract_triples("The Swallow is the fastest boat in the harbour.") == []  # "The ..." is no name
    assert extract_triples("") == []
    graph = harbour_graph()
    assert follow(graph, "baker", ["^works_as", "has_sister", "works_for"]) == ["Malin Ness"]
    assert follow(graph, "keeper", ["^works_as", "has_brother", "skipper_of"]) == ["Swallow"]
    assert follow(graph, "teacher", ["^works_as", "married_to", "works_for", "runs"]) == ["fish auction"]


def test_build_graph_keys_edges_by_relation_and_merges_duplicates():
    graph = build_graph([("a", "r", "b"), ("a", "r", "b"), ("a", "s", "b")])
    assert graph.number_of_edges() == 2
    assert sorted(graph["a"]["b"]) == ["r", "s"]
    assert graph["a"]["b"]["r"]["relation"] == "r"


def test_link_entities_prefers_longer_names_and_keeps_first_occurrence_order():
    graph = build_graph([("fish auction", "located_on", "Market Quay"), ("fish", "x", "Market"),
                         ("Ada Quill", "works_as", "baker")])
    assert link_entities("Is the Fish Auction on Market Quay? Ask the baker, Ada Quill, about fish.", graph) == [
        "fish auction", "Market Quay", "baker", "Ada Quill", "fish"]
    assert link_entities("the bakery", graph) == []  # whole words only
    assert link_entities("", graph) == []


def test_verbalise_and_prompt():
    assert verbalise([("Ada Quill", "has_sister", "Nell Quill")]) == "Ada Quill has sister Nell Quill."
    prompt = extraction_prompt("Nell works for Malin.", ["works_for", "has_sister"])
    assert "works_for, has_sister" in prompt and prompt.endswith("Text: Nell works for Malin.\n")


def test_rdf_graph_has_one_triple_per_distinct_triple():
    rdf = to_rdf([("Ada Quill", "has_sister", "Nell Quill"), ("Ada Quill", "has_sister", "Nell Quill")])
    assert len(rdf) == 1
    (s, p, o) = next(iter(rdf))
    assert (str(s), str(p), str(o)) == ("http://example.org/harbour/Ada_Quill",
                                        "http://example.org/harbour/has_sister", "http://example.org/harbour/Nell_Quill")
    assert isinstance(o, rdflib.URIRef)


def test_bad_input_is_rejected_with_the_argument_named():
    graph = harbour_graph()
    with pytest.raises(ValueError, match="start must be an entity"):
        follow(graph, "the baker", ["works_as"])
    with pytest.raises(ValueError, match=r"path\[1\] must be a relation"):
        follow(graph, "baker", ["^works_as", "sister_of"])
    with pytest.raises(ValueError, match="path must name"):
        labelled_paths(graph, "baker", [])
    with pytest.raises(TypeError, match="path must be a sequence"):
        follow(graph, "baker", "works_as")
    with pytest.raises(ValueError, match="graph must not be empty"):
        follow(nx.MultiDiGraph(), "baker", ["works_as"])
    with pytest.raises(TypeError, match="graph must be a networkx.MultiDiGraph"):
        follow(nx.DiGraph([("a", "b")]), "a", ["r"])
    with pytest.raises(ValueError, match="hops must be >= 0"):
        neighbourhood(graph, ["baker"], -1)
    with pytest.raises(TypeError, match="hops must be an int"):
        neighbourhood(graph, ["baker"], 1.0)
    with pytest.raises(ValueError, match=r"entities\[0\] must be an entity"):
        neighbourhood(graph, ["nobody"], 1)
    with pytest.raises(ValueError, match="entities must name"):
        neighbourhood(graph, [], 1)
    with pytest.raises(ValueError, match="triples must hold at least one"):
        build_graph([])
    with pytest.raises(ValueError, match=r"triples\[0\] must be"):
        build_graph([("a", "", "b")])
    with pytest.raises(ValueError, match=r"triples\[0\] must be"):
        verbalise([("a", "b")])
    with pytest.raises(ValueError, match="map to the same IRI"):
        to_rdf([("Ada Quill", "r", "Ada_Quill")])
    with pytest.raises(ValueError, match="base must be an IRI"):
        to_rdf([("a", "r", "b")], base="http://example.org")
    with pytest.raises(ValueError, match=r"rules\[0\].pattern must have"):
        extract_triples("a b.", [Rule(r"(?P<s>\w+) b\.", "r")])
    with pytest.raises(ValueError, match="relation_names must name"):
        extraction_prompt("text", [])
    with pytest.raises(TypeError, match="text must be a str"):
        link_entities(None, graph)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"path\[0\] must name a relation"):
        sparql_path_query("a", ["^"])
    assert len(RULES) == 7
