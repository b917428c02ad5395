"""A conversational RAG session over the harbour guide, turn by turn: the follow-up rewritten with the history,
BM25 retrieval, passages packed and numbered in the prompt, the history trimmed to its budget. The rewriter
and the answers are deterministic stand-ins for a language model (the answer is the top source's first
sentence)."""

# --8<-- [start:session]
import re

from genai_guide.conversation import ConversationalRAG, rewrite_question
from genai_guide.knowledge_base import load_labelled_set
from genai_guide.sparse import BM25, tokenize

kb = load_labelled_set()
bm25 = BM25([tokenize(d) for d in kb.documents])
entities = [p.title[4:].split(" on ")[0].split(" in ")[0] for p in kb.passages if p.title.startswith("The ")]


def retrieve(query: str) -> list[str]:  # BM25's top 3 passages (their text, without the title)
    return [kb.passages[i].text for i, _ in bm25.search(tokenize(query), 3)]


def count_tokens(text: str) -> int:  # a stand-in tokenizer: words and punctuation marks
    return len(re.findall(r"\w+|[^\w\s]", text))


rag = ConversationalRAG(
    retrieve=retrieve,
    count_tokens=count_tokens,
    rewrite=lambda question, history: rewrite_question(question, history, entities),  # stand-in for the LLM
    history_budget=60,  # tokens of earlier turns sent with each question
    context_budget=60,  # tokens of numbered sources
)
for question in ["When does the bakery open?", "And what does it sell?", "Who buys bread from it before dawn?",
                 "Which boat is the fastest?", "Why is it so fast?"]:
    turn = rag.ask(question)
    print(f"user:       {turn.question}")
    print(f"standalone: {turn.standalone}")
    print(f"sources:    {len(turn.sources)} packed, {sum(map(count_tokens, turn.sources))} tokens; "
          f"history sent: {len(turn.messages) - 2} messages, {turn.history_tokens} tokens")
    print(f"assistant:  {turn.answer}\n")
    assert turn.history_tokens <= 60 and sum(map(count_tokens, turn.sources)) <= 60
# --8<-- [end:session]

# --8<-- [start:messages]
for m in turn.messages:  # what the model reads in the last turn: system, trimmed history, sources + question
    print(f"--- {m['role']}\n{m['content']}")
assert len(rag.history) == 10 and turn.messages[1]["role"] == "user"
# --8<-- [end:messages]
