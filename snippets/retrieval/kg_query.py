"""A multi-hop question as a path query over typed edges: ours, networkx's all_simple_paths filtered by
labels, and SPARQL with a property path over the same triples in rdflib, all giving one answer."""

# --8<-- [start:path]
from itertools import pairwise

import networkx as nx

from genai_guide.knowledge_graph import (
    HARBOUR_PEOPLE,
    build_graph,
    extract_triples,
    follow,
    labelled_paths,
)

triples = [t for passage in HARBOUR_PEOPLE for t in extract_triples(passage)]
graph = build_graph(triples)

# "Who employs the baker's sister?": back along works_as to the baker, then has_sister, then works_for
path = ["^works_as", "has_sister", "works_for"]
print("the baker's sister's employer:", follow(graph, "baker", path))
print("evidence:", labelled_paths(graph, "baker", path))

# the same with networkx: simple paths of three edges from the person who works as the baker
(baker,) = [u for u, _, rel in graph.in_edges("baker", keys=True) if rel == "works_as"]
reference = [p for p in nx.all_simple_paths(graph, baker, set(graph) - {baker}, cutoff=2)
             if len(p) == 3 and graph.has_edge(p[0], p[1], key="has_sister") and graph.has_edge(p[1], p[2], key="works_for")]
assert [p[-1] for p in reference] == follow(graph, "baker", path) == ["Malin Ness"]

questions = {  # question -> (start entity, relations)
    "Which boat does the keeper's brother skipper?": ("keeper", ["^works_as", "has_brother", "skipper_of"]),
    "Which boat does the teacher's husband skipper?": ("teacher", ["^works_as", "married_to", "skipper_of"]),
    "What does the teacher's husband's employer run?": ("teacher", ["^works_as", "married_to", "works_for", "runs"]),
    "Where is the business of the harbour master's sister?": ("harbour master",
                                                              ["^works_as", "has_sister", "runs", "located_on"]),
}
for question, (start, rels) in questions.items():
    print(f"{question:55s} {follow(graph, start, rels)}")

# how are two entities connected? a shortest path, edge direction ignored
undirected = graph.to_undirected(as_view=True)
hops = nx.shortest_path(undirected, "keeper", "fish auction")
labels = [sorted(undirected[u][v]) for u, v in pairwise(hops)]
print("keeper ~ fish auction:", " - ".join(f"{u} [{', '.join(r)}]" for u, r in zip(hops[:-1], labels, strict=True)), "-", hops[-1])
# --8<-- [end:path]

# --8<-- [start:sparql]
from genai_guide.knowledge_graph import sparql_path_query, to_rdf

rdf = to_rdf(triples)  # rdflib.Graph: every entity and relation an IRI under http://example.org/harbour/
query = """
PREFIX ex: <http://example.org/harbour/>
SELECT DISTINCT ?employer WHERE {
    ex:baker ^ex:works_as/ex:has_sister/ex:works_for ?employer .
}"""
rows = [str(row.employer) for row in rdf.query(query)]
print(f"{len(rdf)} RDF triples; SPARQL answer: {rows}")
assert rows == ["http://example.org/harbour/Malin_Ness"]

for question, (start, rels) in questions.items():  # the generated queries agree with follow()
    answers = sorted(str(r.x).rsplit("/", 1)[1].replace("_", " ") for r in rdf.query(sparql_path_query(start, rels)))
    assert answers == follow(graph, start, rels), question
print(sparql_path_query("teacher", questions["Which boat does the teacher's husband skipper?"][1]))
# --8<-- [end:sparql]
