"""Follow-up questions on their own, with the previous question glued on, and rewritten from the history:
BM25 recall of each on a small multi-turn set built from the labelled set's questions. The rewriter is a
rule-based stand-in for the language model a real system asks with the condense-question prompt."""

# --8<-- [start:prompt]
from genai_guide.conversation import condense_question_prompt, extractive_answer, rewrite_question
from genai_guide.knowledge_base import load_labelled_set
from genai_guide.retrieval_metrics import recall_at_k
from genai_guide.sparse import BM25, tokenize

kb = load_labelled_set()
history = [
    {"role": "user", "content": "When does the bakery open?"},
    {"role": "assistant", "content": "The bakery on Quay Street opens at five in the morning. [1]"},
]
print(condense_question_prompt(history, "And what does it sell?"))  # what a real system sends to the LLM
# --8<-- [end:prompt]

# --8<-- [start:set]
# Each conversation opens with a labelled question; the follow-ups (written for this chapter) lean on it.
CONVERSATIONS = {  # opening question id -> [(follow-up, ids of the passages that answer it), ...]
    "q24": [("And what does it sell?", {"p04"}), ("Who buys bread from it before dawn?", {"p05"})],
    "q23": [("When was it built?", {"p06"}), ("Where can I see its first log book?", {"p27"})],
    "q30": [("Why is it so fast?", {"p08"})],
    "q29": [("Where is it?", {"p27"})],
    "q04": [("Can I take a bicycle on it?", {"p14"}), ("What about the bus?", {"p31"})],
    "q09": [("Who uses it?", {"p43"})],
    "q10": [("Whose launch is it?", {"p44"}), ("Where is her office?", {"p11"})],
    "q21": [("What fish are sold at it?", {"p16"}), ("How do they keep it cold?", {"p37"})],
    "q13": [("What does it repair?", {"p25"})],
    "q06": [("How is it marked?", {"p23"})],
    "q02": [("Which channel does it use?", {"p41"})],
    "q18": [("How often does it sound?", {"p22"})],
}
# Named things the conversation can be about: the passage titles "The X" (an LLM needs no such list).
ENTITIES = [p.title[4:].split(" on ")[0].split(" in ")[0] for p in kb.passages if p.title.startswith("The ")]
print(f"\n{sum(map(len, CONVERSATIONS.values()))} follow-ups in {len(CONVERSATIONS)} conversations; "
      f"{len(ENTITIES)} entities, e.g. {ENTITIES[:6]}")
# --8<-- [end:set]

# --8<-- [start:measure]
bm25 = BM25([tokenize(d) for d in kb.documents])
print("\nalone rewritten  follow-up                          -> standalone question (recall@3 hit or miss)")


def search(query: str, k: int = 3) -> list[str]:
    return [kb.passage_ids[i] for i, _ in bm25.search(tokenize(query), k)]


recalls: dict[str, list[float]] = {"follow-up alone": [], "previous + follow-up": [], "rewritten": []}
for qid, follow_ups in CONVERSATIONS.items():
    opening = next(q.text for q in kb.questions if q.id == qid)
    history = []
    for question in [opening, *(f for f, _ in follow_ups)]:
        standalone = rewrite_question(question, history, ENTITIES)  # the stand-in for the LLM call
        top = search(standalone)
        if history:  # a follow-up: measure the three queries
            relevant = dict(follow_ups)[question]
            previous = history[-2]["content"]  # the previous user question
            for name, query in [("follow-up alone", question), ("previous + follow-up", f"{previous} {question}"),
                                ("rewritten", standalone)]:
                recalls[name].append(recall_at_k(search(query), relevant, 3))
            hits = ["hit " if r[-1] == 1 else "miss" for r in (recalls["follow-up alone"], recalls["rewritten"])]
            print(f"{hits[0]} {hits[1]}  {question:36} -> {standalone}")
        answer = extractive_answer([kb.passage(top[0]).text])  # stand-in answer: top passage's 1st sentence
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]

print("\nrecall@3 over the follow-ups (BM25):")
for name, values in recalls.items():
    print(f"  {name:22} {sum(values) / len(values):.2f}")
mean = {name: sum(v) / len(v) for name, v in recalls.items()}
assert mean["rewritten"] > mean["follow-up alone"] and len(recalls["rewritten"]) == 17
# --8<-- [end:measure]
