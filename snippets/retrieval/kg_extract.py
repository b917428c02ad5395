"""Triples from text with pattern rules, the knowledge graph they make in networkx, and the prompt an
LLM-based extractor would get instead."""

# --8<-- [start:extract]
from genai_guide.knowledge_graph import (
    HARBOUR_PEOPLE,
    build_graph,
    extract_triples,
    split_sentences,
)

triples, missed = [], []
for passage in HARBOUR_PEOPLE:  # eight short passages about the harbour town's people
    for sentence in split_sentences(passage):
        found = extract_triples(sentence)  # one regular expression a relation; first match wins
        triples += found
        missed += [] if found else [sentence]
print(f"{len(triples)} triples from {len(triples) + len(missed)} sentences; first passage:")
for t in extract_triples(HARBOUR_PEOPLE[0]):
    print(f"  ({t.subject}, {t.predicate}, {t.object})")
print("no rule fits:", *missed, sep="\n  ")
assert ("Ada Quill", "has_sister", "Nell Quill") in triples  # "Nell Quill is the sister of Ada Quill."
# --8<-- [end:extract]

# --8<-- [start:prompt]
from genai_guide.knowledge_graph import extraction_prompt

schema = sorted({t.predicate for t in triples})  # the relations the extractor may use
print(extraction_prompt(HARBOUR_PEOPLE[1], schema))  # what an LLM extractor is sent
# --8<-- [end:prompt]

# --8<-- [start:graph]
graph = build_graph(triples)  # networkx.MultiDiGraph: one edge a triple, keyed by its relation
print(f"graph: {graph.number_of_nodes()} entities, {graph.number_of_edges()} edges")
print("edges from Ada Quill:", sorted((k, v) for _, v, k in graph.out_edges("Ada Quill", keys=True)))
relation_counts = {}
for _, _, rel in graph.edges(data="relation"):
    relation_counts[rel] = relation_counts.get(rel, 0) + 1
print("relations:", dict(sorted(relation_counts.items())))
assert graph.number_of_edges() == len(set(triples))  # a repeated fact is one edge
# --8<-- [end:graph]
