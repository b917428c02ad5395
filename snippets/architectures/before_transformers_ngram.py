"""Count-based n-gram language models on the harbour story: counts, add-one smoothing, perplexity,
sparsity and generation."""

# --8<-- [start:count]
import math
import random
import re
from collections import Counter

from genai_guide.texts import read_text

lines = read_text("harbour").splitlines()


def words(line: str) -> list[str]:
    return re.findall(r"[a-z']+|[.,:]", line.lower())  # lowercase words and punctuation marks


train, held_out = lines[:18], lines[18:]  # 18 lines to count, 2 lines the model never sees
vocab = sorted({w for line in train for w in words(line)} | {"</s>", "<unk>"})
V = len(vocab)


def padded(line: str, n: int) -> list[str]:
    known = [w if w in vocab else "<unk>" for w in words(line)]
    return ["<s>"] * (n - 1) + known + ["</s>"]  # n - 1 start markers give the first word a context


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


counts = {n: Counter(g for line in train for g in ngrams(padded(line, n), n)) for n in (1, 2, 3)}
contexts = {n: Counter(g[:-1] for g in counts[n].elements()) for n in (2, 3)}  # C(w_{t-n+1..t-1})
print(f"vocabulary: {V} types, {sum(counts[1].values())} training tokens")
print("most frequent bigrams:", [" ".join(g) for g, _ in counts[2].most_common(5)])
# --8<-- [end:count]

# --8<-- [start:smooth]
def prob(word: str, context: tuple[str, ...], n: int, add: float = 1.0) -> float:
    """P(word | context) with add-`add` smoothing; add=0 is the raw relative frequency."""
    if n == 1:
        return (counts[1][(word,)] + add) / (sum(counts[1].values()) + add * V)
    return (counts[n][context + (word,)] + add) / (contexts[n][context] + add * V)


for n in (2, 3):  # every distribution over the next word sums to 1
    assert abs(sum(prob(w, ("<s>",) * (n - 1), n) for w in vocab) - 1) < 1e-9

print()
for word in ("keeper", "whale"):  # "whale" occurs once in the story, never after "the"
    pair, the = counts[2][("the", word)], contexts[2][("the",)]
    raw, smoothed = prob(word, ("the",), 2, add=0), prob(word, ("the",), 2)
    print(f"P({word} | the): raw {pair}/{the} = {raw:.3f}, add-one {pair + 1}/{the + V} = {smoothed:.3f}")


def perplexity(texts: list[str], n: int, add: float) -> float:
    """exp of the average negative log-probability per token (each line's </s> included)."""
    log_prob, tokens = 0.0, 0
    for line in texts:
        for gram in ngrams(padded(line, n), n):
            log_prob += math.log(prob(gram[-1], gram[:-1], n, add))
            tokens += 1
    return math.exp(-log_prob / tokens)


print("\nperplexity | add-one: train | held-out | add-0.1: train | held-out")
ppl = {}
for n, name in ((1, "unigram"), (2, "bigram"), (3, "trigram")):
    ppl[n] = [perplexity(texts, n, add) for add in (1.0, 0.1) for texts in (train, held_out)]
    print(f"{name:>10} | " + " | ".join(f"{p:{w}.1f}" for p, w in zip(ppl[n], (14, 8, 14, 8))))
assert ppl[2][1] > ppl[1][1]  # add-one: the bigram loses to the unigram on new text
assert ppl[2][3] < ppl[1][3]  # add-0.1: the bigram wins
assert ppl[3][2] < ppl[2][2] and ppl[3][3] > ppl[2][3]  # the trigram memorises, and generalises worse
# --8<-- [end:smooth]

# --8<-- [start:sparsity]
seen = len(counts[3])
possible = V ** 3
held_out_trigrams = [g for line in held_out for g in ngrams(padded(line, 3), 3)]
unseen = sum(counts[3][g] == 0 for g in held_out_trigrams) / len(held_out_trigrams)
print(f"\ntrigrams seen in training: {seen} of {possible:,} possible ({seen / possible:.4%})")
print(f"held-out trigrams never seen in training: {unseen:.0%}")
assert seen / possible < 0.001
# --8<-- [end:sparsity]

# --8<-- [start:generate]
rng = random.Random(0)  # a fixed seed: the same "random" text every run
for _ in range(3):
    tokens = ["<s>"]
    while tokens[-1] != "</s>" and len(tokens) < 25:
        followers = {g[1]: c for g, c in counts[2].items() if g[0] == tokens[-1]}  # raw bigram counts
        tokens.append(rng.choices(list(followers), weights=list(followers.values()))[0])
    assert all(counts[2][pair] for pair in ngrams(tokens, 2))  # every step was seen in the story
    sentence = " ".join(t for t in tokens[1:] if t != "</s>")
    print("sampled:", re.sub(r" ([.,:])", r"\1", sentence))  # glue punctuation back on
# --8<-- [end:generate]
