"""From ranked passages to a checked answer: pack the best passages into a token budget counted with a
tokenizer, order them for "lost in the middle", number them in a prompt, and check the citations of a few
example answers. The answers are written by hand here, as strings: no language model runs."""

# --8<-- [start:pack]
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from genai_guide.knowledge_base import load_labelled_set
from genai_guide.reranking import (
    assemble_prompt,
    check_citations,
    lost_in_the_middle_order,
    pack_context,
)
from genai_guide.sparse import BM25, tokenize

kb = load_labelled_set()
pre = pre_tokenizers.BertPreTokenizer()
words = sorted({w for d in kb.documents for w, _ in pre.pre_tokenize_str(d.lower())})
tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]"))
tok.normalizer, tok.pre_tokenizer = normalizers.Lowercase(), pre


def count_tokens(text: str) -> int:
    return len(tok.encode(text).ids)  # count with the tokenizer of the model that reads the prompt


question = "How often does the lighthouse lamp turn, and who lights it?"
bm25 = BM25([tokenize(d) for d in kb.documents])
ranked = [kb.documents[i] for i, _ in bm25.search(tokenize(question), 6)]  # best first (a reranker's output)
BUDGET = 120  # tokens for the sources; the window also holds the instructions, question and answer
packed = pack_context(ranked, BUDGET, count_tokens)
used = [count_tokens(p) for p in packed]
print(f"ranked passages: {[count_tokens(p) for p in ranked]} tokens; budget {BUDGET}")
print(f"packed {len(packed)}: {used} tokens, {sum(used)} in all; the last is cut: ...{packed[-1][-40:]!r}")
assert sum(used) <= BUDGET and packed[:-1] == ranked[:len(packed) - 1]
# --8<-- [end:pack]

# --8<-- [start:prompt]
order = lost_in_the_middle_order(list(range(1, len(packed) + 1)))  # ranks 1..n -> best at both ends
print(f"ranks in prompt order: {order}")
sources = [packed[r - 1] for r in order]
prompt = assemble_prompt(question, sources)
print(prompt)
WINDOW = 256  # the reading model's context window, in tokens
print(f"prompt: {count_tokens(prompt)} tokens of a {WINDOW}-token window: {WINDOW - count_tokens(prompt)} left for the answer")
assert count_tokens(prompt) < WINDOW
# --8<-- [end:prompt]

# --8<-- [start:citations]
answers = {  # example answers, written by hand: what a model might return
    "grounded": "The lamp turns once every twelve seconds [4], and the keeper lights it every evening [1].",
    "wrong source": "The lamp turns once every twelve seconds [2].",  # [2] says nothing of the kind
    "made-up source": "The lamp turns every twelve seconds [4]; it was installed in 1902 [7].",
    "no citation": "The lamp turns every twelve seconds and the keeper lights it.",
}
for name, answer in answers.items():
    check = check_citations(answer, n_sources=len(sources))
    print(f"{name:15} cited {list(check.cited)}, not in prompt {list(check.unknown)}, ok: {check.ok}")
assert [check_citations(a, len(sources)).ok for a in answers.values()] == [True, True, False, False]
assert "twelve seconds" in sources[3] and "twelve seconds" not in sources[1]  # the form passes, not the truth
# --8<-- [end:citations]
