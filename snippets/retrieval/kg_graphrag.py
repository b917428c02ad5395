"""Graph-augmented retrieval against plain chunk retrieval on multi-hop questions: how much of the
evidence each puts into the prompt, and at what size."""

# --8<-- [start:setup]
from sklearn.feature_extraction.text import TfidfVectorizer

from genai_guide.knowledge_graph import (
    HARBOUR_PEOPLE,
    build_graph,
    extract_triples,
    labelled_paths,
    link_entities,
    neighbourhood,
    verbalise,
)

source = {t: i for i, passage in enumerate(HARBOUR_PEOPLE) for t in extract_triples(passage)}  # triple -> chunk
graph = build_graph(source)

questions = {  # question -> the path that answers it (used only to score the evidence)
    "Who employs the baker's sister?": ("baker", ["^works_as", "has_sister", "works_for"]),
    "Which boat does the keeper's brother skipper?": ("keeper", ["^works_as", "has_brother", "skipper_of"]),
    "Which boat does the teacher's husband skipper?": ("teacher", ["^works_as", "married_to", "skipper_of"]),
    "What does the teacher's husband's employer run?": ("teacher", ["^works_as", "married_to", "works_for", "runs"]),
    "Where is the business of the harbour master's sister?": ("harbour master",
                                                              ["^works_as", "has_sister", "runs", "located_on"]),
}


def evidence(start, rels):
    """The triples on the answer's path (a backwards step's triple is stored the other way round)."""
    (nodes,) = labelled_paths(graph, start, rels)
    return {(v, r[1:], u) if r.startswith("^") else (u, r, v) for u, v, r in zip(nodes, nodes[1:], rels)}


tfidf = TfidfVectorizer().fit(HARBOUR_PEOPLE)
chunk_vectors = tfidf.transform(HARBOUR_PEOPLE)  # rows are L2-normalised: the dot product is the cosine


def chunk_context(question, k):
    scores = (chunk_vectors @ tfidf.transform([question]).T).toarray().ravel()
    top = sorted(range(len(HARBOUR_PEOPLE)), key=lambda i: (-scores[i], i))[:k]
    return {t for t, i in source.items() if i in top}, sum(len(HARBOUR_PEOPLE[i]) for i in top)


def graph_context(question, hops):
    near = neighbourhood(graph, link_entities(question, graph), hops)
    return set(near), len(verbalise(near)) if near else 0
# --8<-- [end:setup]

# --8<-- [start:compare]
settings = {"chunks k=2": (chunk_context, 2), "chunks k=3": (chunk_context, 3),
            "graph 2 hops": (graph_context, 2), "graph 3 hops": (graph_context, 3),
            "graph 4 hops": (graph_context, 4)}
print(f"{'evidence found / needed':55s}" + "".join(f"{name:>14s}" for name in settings))
totals = {name: [0, 0, 0] for name in settings}  # evidence found, needed, context characters
for question, (start, rels) in questions.items():
    needed = evidence(start, rels)
    row = f"{question:55s}"
    for name, (context, size) in settings.items():
        facts, chars = context(question, size)
        found = len(needed & facts)
        totals[name] = [totals[name][0] + found, totals[name][1] + len(needed), totals[name][2] + chars]
        row += f"{f'{found}/{len(needed)}':>14s}"
    print(row)
print(f"{'evidence recall':55s}" + "".join(f"{f / n:14.2f}" for f, n, _ in totals.values()))
print(f"{'context characters per question':55s}" + "".join(f"{c / len(questions):14.0f}" for *_, c in totals.values()))
assert totals["graph 4 hops"][0] == totals["graph 4 hops"][1]  # 4 hops reach every answer path here
assert totals["chunks k=2"][0] < totals["chunks k=2"][1]
# --8<-- [end:compare]

# --8<-- [start:prompt]
question = "Who employs the baker's sister?"
seeds = link_entities(question, graph)
facts = verbalise(neighbourhood(graph, seeds, hops=3))
print(f"linked entities: {seeds}\n")
print(f"Answer from the facts below.\n\nFacts:\n{facts}\n\nQuestion: {question}\nAnswer:")
# --8<-- [end:prompt]
